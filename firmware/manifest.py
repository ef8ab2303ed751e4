# Freezing posdiag into a MicroPython firmware image:
#   make BOARD=... FROZEN_MANIFEST=/path/to/posdiag/firmware/manifest.py
metadata(description="posdiag: POS terminal receipt-printer self-test and diagnostics", version="0.1.0")

package("posdiag", opt=3)
