; Inno Setup script: wraps the PyInstaller folder dist\BlastScan into BlastScan-<version>-setup.exe.
;
; Build on Windows, from the repository root (see packaging/README.md):
;   py -3.11 -m venv .venv && .venv\Scripts\pip install -e .[package]
;   .venv\Scripts\pyinstaller --noconfirm --clean build.spec
;   iscc packaging\windows\blastscan.iss
;   (the version comes from BlastScan.exe; to override: iscc /DAppVersion=0.1.0 /DAppNumericVersion=0.1.0.0 ...)
; The setup lands in dist\.  Per-machine install into {autopf}\BlastScan (Program Files), Start-menu
; and (optional, ticked) desktop shortcuts to BlastScan.exe, an uninstaller in Apps & features.
; Requires Inno Setup 6.3 or later: ArchitecturesAllowed=x64compatible (below) is new in 6.3, and an
; older compiler refuses the script with an unclear error; the check below says so instead.

#if VER < EncodeVer(6,3,0)
  #error Inno Setup 6.3 or later is needed (x64compatible); download it from jrsoftware.org
#endif

#define AppName "BlastScan"
#define AppExe "BlastScan.exe"
#define BundleDir SourcePath + "..\..\dist\BlastScan"

#if !FileExists(BundleDir + "\" + AppExe)
  #error dist\BlastScan\BlastScan.exe is missing: run `pyinstaller --noconfirm build.spec` first
#endif

#ifndef AppVersion
  ; build.spec writes app.__version__ into the executable's version resource
  #define AppVersion GetStringFileInfo(BundleDir + "\" + AppExe, "ProductVersion")
#endif
#ifndef AppNumericVersion
  ; the same version as four numbers (0.1.0 gives 0.1.0.0): what Windows shows for the setup
  #define AppNumericVersion GetVersionNumbersString(BundleDir + "\" + AppExe)
#endif
#if AppVersion == "" || AppNumericVersion == ""
  #error BlastScan.exe has no version resource: build it with build.spec (or pass /DAppVersion and /DAppNumericVersion)
#endif

[Setup]
; AppId identifies the product for upgrades and the uninstaller: never change it.
AppId={{6F1B2C0E-5A4D-4B8E-9C71-B1A57C5CA17E}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=BlastScan team
AppCopyright=Copyright (c) BlastScan team
AppComments=Offline detection of suspected leukemic blasts in blood-smear images (decision support)
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
; Qt 6 runs on Windows 10 and later
MinVersion=10.0
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#SourcePath}..\..\dist
OutputBaseFilename=BlastScan-{#AppVersion}-setup
SetupIconFile={#SourcePath}..\..\resources\icons\blastscan.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
; the app's licence (packaging/LICENSE.txt), also installed beside the app as LICENSE.txt
LicenseFile={#SourcePath}..\LICENSE.txt
; the setup's own version resource (Explorer's Details tab), from the app's version
VersionInfoVersion={#AppNumericVersion}
VersionInfoProductVersion={#AppNumericVersion}
VersionInfoTextVersion={#AppVersion}
VersionInfoProductTextVersion={#AppVersion}
VersionInfoProductName={#AppName}
VersionInfoDescription={#AppName} setup
VersionInfoCompany=BlastScan team
VersionInfoCopyright=Copyright (c) BlastScan team
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
CloseApplications=yes

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"

[InstallDelete]
; an upgrade replaces the whole bundle: no libraries of an older version stay behind
Type: filesandordirs; Name: "{app}\_internal"

[Files]
Source: "{#BundleDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "{#SourcePath}..\LICENSE.txt"; DestDir: "{app}"; Flags: ignoreversion

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Flag suspected blasts in blood-smear images"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
