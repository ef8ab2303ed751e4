# posdiag-core: the self-test (checks, ranking, hint), its record and log,
# the settings and the Terminal. Every board takes it; the other packages
# require() it. One source folder (../posdiag), several manifests, as
# micropython-lib splits aioble. docs/firmware.md, "Packages".
metadata(description="posdiag core: printer self-test, record, log and hint")

package(
    "posdiag",
    files=(
        "__init__.py",
        "catalog.py",
        "cbor.py",
        "checks.py",
        "config.py",
        "counters.py",
        "escpos.py",
        "flashfile.py",
        "hal.py",
        "hostaddr.py",
        "log.py",
        "mac.py",
        "printer.py",
        "printerid.py",
        "rank.py",
        "record.py",
        "terminal.py",
    ),
    base_path="..",
    opt=3,
)
