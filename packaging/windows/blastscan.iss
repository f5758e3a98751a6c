; Inno Setup script: wraps the PyInstaller folder dist\BlastScan into BlastScan-<version>-setup.exe.
;
; Build on Windows, from the repository root (see packaging/README.md):
;   py -3.11 -m venv .venv && .venv\Scripts\pip install -e .[package]
;   .venv\Scripts\pyinstaller --noconfirm --clean build.spec
;   iscc packaging\windows\blastscan.iss                       (or: iscc /DAppVersion=0.1.0 ...)
; The setup lands in dist\.  Per-machine install into {autopf}\BlastScan (Program Files), Start-menu
; and (optional, ticked) desktop shortcuts to BlastScan.exe, an uninstaller in Apps & features.
; Requires Inno Setup 6.

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

[Setup]
; AppId identifies the product for upgrades and the uninstaller: never change it.
AppId={{6F1B2C0E-5A4D-4B8E-9C71-B1A57C5CA17E}
AppName={#AppName}
AppVersion={#AppVersion}
AppVerName={#AppName} {#AppVersion}
AppPublisher=BlastScan team
AppComments=Offline detection of suspected leukemic blasts in blood-smear images (decision support)
DefaultDirName={autopf}\{#AppName}
DefaultGroupName={#AppName}
DisableProgramGroupPage=yes
PrivilegesRequired=admin
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir={#SourcePath}..\..\dist
OutputBaseFilename=BlastScan-{#AppVersion}-setup
SetupIconFile={#SourcePath}..\..\resources\icons\blastscan.ico
UninstallDisplayIcon={app}\{#AppExe}
UninstallDisplayName={#AppName} {#AppVersion}
LicenseFile={#SourcePath}..\linux\copyright
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

[Icons]
Name: "{autoprograms}\{#AppName}"; Filename: "{app}\{#AppExe}"; Comment: "Flag suspected blasts in blood-smear images"
Name: "{autodesktop}\{#AppName}"; Filename: "{app}\{#AppExe}"; Tasks: desktopicon

[Run]
Filename: "{app}\{#AppExe}"; Description: "{cm:LaunchProgram,{#AppName}}"; Flags: nowait postinstall skipifsilent
