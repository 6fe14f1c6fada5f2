# Builds dist\restora\ (restora.exe, restora-gui.exe, models\) and dist\restora-<version>-windows-x86_64.zip with
# PyInstaller (packaging\restora.spec).
# PREPARED, NOT TESTED: no Windows machine was available when this was written (see docs/packaging.md).
#
#   powershell -ExecutionPolicy Bypass -File packaging\build-windows.ps1
#
# Needs: Python 3.11+ from python.org (64-bit) on PATH as `py`, network to PyPI.
$ErrorActionPreference = "Stop"
Set-Location (Join-Path $PSScriptRoot "..")
$Venv = if ($env:RESTORA_BUILD_VENV) { $env:RESTORA_BUILD_VENV } else { "build\venv" }
$Models = if ($env:RESTORA_BUNDLE_MODELS) { $env:RESTORA_BUNDLE_MODELS } else { "build\models" }
$Py = Join-Path $Venv "Scripts\python.exe"

if (-not (Test-Path $Py)) { py -3 -m venv $Venv }
& $Py -m pip install -q --upgrade pip
# Pillow: PyInstaller turns resources\icons\restora.png into the .ico with it
& $Py -m pip install -q ".[package]" pillow
if ($LASTEXITCODE -ne 0) { throw "pip install failed" }
$Version = & $Py -I -c "import restora; print(restora.__version__)"

New-Item -ItemType Directory -Force $Models | Out-Null
$env:RESTORA_MODELS = (Resolve-Path $Models).Path
& (Join-Path $Venv "Scripts\restora.exe") models fetch -q --runtime-only
if ($LASTEXITCODE -ne 0) { throw "restora models fetch failed" }
Remove-Item -Recurse -Force -ErrorAction SilentlyContinue (Join-Path $Models "user")
& (Join-Path $Venv "Scripts\restora.exe") models check -q
if ($LASTEXITCODE -ne 0) { throw "restora models check failed" }
Remove-Item Env:\RESTORA_MODELS

Remove-Item -Recurse -Force -ErrorAction SilentlyContinue dist\restora
& (Join-Path $Venv "Scripts\pyinstaller.exe") --noconfirm --log-level WARN --distpath dist `
    --workpath build\pyinstaller packaging\restora.spec
if ($LASTEXITCODE -ne 0) { throw "pyinstaller failed" }
Copy-Item -Recurse $Models dist\restora\models
Copy-Item LICENSE, resources\icons\restora.png dist\restora\

& dist\restora\restora.exe --version
& dist\restora\restora.exe models check -q
if ($LASTEXITCODE -ne 0) { throw "the bundle's models check failed" }
$Zip = "dist\restora-$Version-windows-x86_64.zip"
Remove-Item -Force -ErrorAction SilentlyContinue $Zip
Compress-Archive -Path dist\restora -DestinationPath $Zip
Get-Item $Zip
