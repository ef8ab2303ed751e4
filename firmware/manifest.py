# Freezing posdiag into a MicroPython firmware image: include this file from
# a board manifest that keeps the port's own, e.g.
#   include("$(PORT_DIR)/boards/manifest.py")
#   include("/path/to/posdiag/firmware/manifest.py")
# then build with FROZEN_MANIFEST pointing at that board manifest.
# The version is posdiag.VERSION (posdiag/__init__.py), written there only.
metadata(description="posdiag: POS terminal receipt-printer self-test and diagnostics")

package("posdiag", opt=3)
