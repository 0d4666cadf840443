"""Oracle: GDAL nearest-neighbour resampling of a uint8 raster. Usage: gdal_nearest.py in.u8 w h W H
Prints the W*H resampled values as a JSON list (gdal.Translate with width/height and resampleAlg=nearest)."""
import json, sys
import numpy as np
from osgeo import gdal

w, h, W, H = map(int, sys.argv[2:6])
a = np.fromfile(sys.argv[1], dtype=np.uint8).reshape(h, w)
src = gdal.GetDriverByName("MEM").Create("", w, h, 1, gdal.GDT_Byte)
src.SetGeoTransform([0, 1, 0, 0, 0, -1])
src.GetRasterBand(1).WriteArray(a)
dst = gdal.Translate("", src, format="MEM", width=W, height=H, resampleAlg="nearest")
print(json.dumps(dst.GetRasterBand(1).ReadAsArray().ravel().tolist()))
