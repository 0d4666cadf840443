#!/usr/bin/python3
"""The script a researcher would write with GDAL + numpy: the s2change vegetation preset on whole arrays.

Reads B04/B08 of both dates (uint16, nodata 0, reflectance = DN / 10000), computes NDVI per date and
dNDVI = NDVI_after - NDVI_before (float32), classes 1 = loss (dNDVI <= -0.2), 2 = gain (>= 0.2), 0 = no change,
255 = nodata, and writes change.tif (uint8) and dndvi.tif (float32, NaN nodata) as DEFLATE COGs with 2 threads.

Cloud mask, as s2change applies it: when a date folder holds SCL.tif (the 20 m Scene Classification Layer, on the
same origin), it is read at 10 m by nearest neighbour (each 20 m pixel repeated 2x2), classes 0 nodata, 1 saturated,
3 cloud shadow, 8/9 cloud, 10 cirrus, 11 snow are masked, the mask is grown by 2 pixels (scipy binary_dilation with
a 5x5 square = s2change's default --cloud-buffer 2), and a pixel masked on either date is nodata. With --scl a
missing SCL.tif is an error rather than "no mask".

Usage: /usr/bin/python3 bench/gdal_baseline.py BEFORE_DIR AFTER_DIR OUT_DIR [--no-float] [--scl]
"""
import os
import sys

import numpy as np
from osgeo import gdal
from scipy.ndimage import binary_dilation

gdal.UseExceptions()
gdal.SetConfigOption('GDAL_NUM_THREADS', '2')


def read(d, band):
    ds = gdal.Open(os.path.join(d, f'{band}.tif'))
    return ds, ds.GetRasterBand(1).ReadAsArray()


MASKED_SCL = [0, 1, 3, 8, 9, 10, 11]


def cloud_mask(d, shape, required):
    """The date's SCL mask on the 10 m grid (True = masked), or None when the folder has no SCL.tif."""
    path = os.path.join(d, 'SCL.tif')
    if not os.path.exists(path):
        if required:
            sys.exit(f'--scl: {path} does not exist')
        return None
    ds = gdal.Open(path)
    ref = gdal.Open(os.path.join(d, 'B04.tif')).GetGeoTransform()
    gt = ds.GetGeoTransform()
    assert gt[0] == ref[0] and gt[3] == ref[3] and gt[1] == 2 * ref[1] and gt[5] == 2 * ref[5], 'SCL is not the 20 m grid of B04'
    scl = np.repeat(np.repeat(ds.ReadAsArray(), 2, axis=0), 2, axis=1)[:shape[0], :shape[1]]
    return binary_dilation(np.isin(scl, MASKED_SCL), structure=np.ones((5, 5), dtype=bool))


def ndvi(d):
    _, red = read(d, 'B04')
    ds, nir = read(d, 'B08')
    valid = (red != 0) & (nir != 0)
    r = red.astype(np.float32) / np.float32(10000)
    n = nir.astype(np.float32) / np.float32(10000)
    del red, nir
    with np.errstate(invalid='ignore', divide='ignore'):
        v = (n - r) / (n + r)
    v[~valid] = np.nan
    return ds, v


def write(path, arr, ref, nodata, resampling):
    mem = gdal.GetDriverByName('MEM').Create('', arr.shape[1], arr.shape[0], 1,
                                             gdal.GDT_Byte if arr.dtype == np.uint8 else gdal.GDT_Float32)
    mem.SetGeoTransform(ref.GetGeoTransform())
    mem.SetProjection(ref.GetProjection())
    b = mem.GetRasterBand(1)
    b.SetNoDataValue(nodata)
    b.WriteArray(arr)
    gdal.Translate(path, mem, format='COG', creationOptions=[
        'COMPRESS=DEFLATE', 'PREDICTOR=YES', 'BLOCKSIZE=512', 'NUM_THREADS=2', f'RESAMPLING={resampling}'])


def main():
    before, after, out = sys.argv[1:4]
    no_float = '--no-float' in sys.argv[4:]
    scl_required = '--scl' in sys.argv[4:]
    os.makedirs(out, exist_ok=True)
    ref, nb = ndvi(before)
    _, na = ndvi(after)
    d = na - nb
    del na, nb
    for date in (before, after):
        masked = cloud_mask(date, d.shape, scl_required)
        if masked is not None:
            d[masked] = np.nan
            del masked
    cls = np.zeros(d.shape, dtype=np.uint8)
    cls[d <= -0.2] = 1
    cls[d >= 0.2] = 2
    cls[np.isnan(d)] = 255
    write(os.path.join(out, 'change.tif'), cls, ref, 255, 'NEAREST')
    if not no_float:
        write(os.path.join(out, 'dndvi.tif'), d, ref, float('nan'), 'AVERAGE')
    print({'loss': int((cls == 1).sum()), 'gain': int((cls == 2).sum()), 'nodata': int((cls == 255).sum())})


if __name__ == '__main__':
    main()
