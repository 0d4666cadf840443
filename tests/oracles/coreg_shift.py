"""Oracle for co-registration: a real band crop shifted by known sub-pixel amounts, two independent ways.
Usage: coreg_shift.py BAND.tif X Y W H DX DY OUTDIR
Reads the W x H window at (X, Y) of BAND.tif with GDAL (float32), and writes into OUTDIR:
  ref.f32      the window as read;
  fourier.f32  the window Fourier-shifted (scipy.ndimage.fourier_shift) so that fourier(x + DX, y + DY) = ref(x, y);
  gdal.f32     GDAL's bilinear warp (gdalwarp -r bilinear -et 0) of the window whose geotransform origin was moved by
               (-DX, -DY) pixels, onto the window's own grid: out(x, y) = ref(x + DX, y + DY) between pixel centres.
Prints JSON {"width", "height"}."""
import json, os, subprocess, sys
import numpy as np
from osgeo import gdal, osr
from scipy import ndimage

src, x, y, w, h, dx, dy, out = sys.argv[1], *map(int, sys.argv[2:6]), float(sys.argv[6]), float(sys.argv[7]), sys.argv[8]
ds = gdal.Open(src)
a = np.frombuffer(ds.GetRasterBand(1).ReadRaster(x, y, w, h, buf_type=gdal.GDT_Float32), dtype=np.float32).reshape(h, w).copy()
a.tofile(os.path.join(out, 'ref.f32'))
# fourier_shift(F, s) gives out(p) = in(p - s): out(x + dx) = ref(x) needs s = (dy, dx) (rows, cols).
f = np.fft.ifft2(ndimage.fourier_shift(np.fft.fft2(a.astype(np.float64)), (dy, dx))).real.astype(np.float32)
f.tofile(os.path.join(out, 'fourier.f32'))
gt = (500000.0, 10.0, 0.0, 4000000.0, 0.0, -10.0)
drv = gdal.GetDriverByName('GTiff')
moved = os.path.join(out, 'moved.tif')
m = drv.Create(moved, w, h, 1, gdal.GDT_Float32)
# The moving image's pixel (c) is put on the ground of reference pixel (c - dx).
m.SetGeoTransform((gt[0] - dx * gt[1], gt[1], 0.0, gt[3] - dy * gt[5], 0.0, gt[5]))
srs = osr.SpatialReference(); srs.ImportFromEPSG(32631); m.SetProjection(srs.ExportToWkt())
m.GetRasterBand(1).WriteRaster(0, 0, w, h, a.tobytes(), buf_type=gdal.GDT_Float32)
m = None
warped = os.path.join(out, 'warped.tif')
subprocess.run(['gdalwarp', '-q', '-overwrite', '-r', 'bilinear', '-et', '0', '-te', str(gt[0]), str(gt[3] + h * gt[5]),
                str(gt[0] + w * gt[1]), str(gt[3]), '-ts', str(w), str(h), '-ot', 'Float32', '-dstnodata', 'nan', moved, warped], check=True)
wds = gdal.Open(warped)  # kept in a variable: a band of a dataset already collected crashes GDAL's bindings
g = np.frombuffer(wds.GetRasterBand(1).ReadRaster(0, 0, w, h, buf_type=gdal.GDT_Float32), dtype=np.float32)
g.tofile(os.path.join(out, 'gdal.f32'))
print(json.dumps({"width": w, "height": h}))
