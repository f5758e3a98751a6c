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

# Linux release: dist/BlastScan/ (PyInstaller folder), dist/blastscan_<version>_<arch>.deb and
# dist/BlastScan-<version>-linux-x86_64.tar.gz; see packaging/README.md (Windows: Inno Setup).
VERSION = $(shell sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)

package:
	python3 -m venv $(VENV) && $(BIN)/pip install -e '.[package]'
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build build.spec
	packaging/build_deb.sh dist/BlastScan dist $(VERSION)
	tar -C dist -czf dist/BlastScan-$(VERSION)-linux-x86_64.tar.gz BlastScan
	@du -sh dist/BlastScan dist/blastscan_$(VERSION)_*.deb dist/BlastScan-$(VERSION)-linux-x86_64.tar.gz
