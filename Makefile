# Everyday commands. The README's two set-up commands are the source of truth; these wrap them.
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test train package

run:
	python3 -m venv $(VENV) && $(BIN)/pip install -e . && $(BIN)/blastscan resources/samples/demo_case

test:
	python3 -m venv $(VENV) && $(BIN)/pip install -e '.[training,test]' && QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -q

train:
	$(BIN)/python -m training
