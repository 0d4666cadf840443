#!/usr/bin/python3
"""Synthetic Sentinel-2-like tile pair for the s2change benchmark.

Writes <out>/before/B04.tif, B08.tif and <out>/after/B04.tif, B08.tif as uint16 COGs (DEFLATE, predictor 2,
512x512 tiles, nodata 0), SIZE x SIZE pixels at 10 m in EPSG:32633. Values are spatially correlated like a real
scene: agricultural parcels with sharp edges (a jittered Voronoi of random field centres), smooth terrain-like
variation, rivers, and sensor noise; the after date has cleared and regrown parcels. They compress like real
L2A bands (roughly 45-60 % of raw), not like random noise or constants.

Usage: /usr/bin/python3 bench/make_synthetic.py SIZE OUT_DIR
"""
import os
import sys

import numpy as np
from osgeo import gdal

gdal.UseExceptions()


def smooth_field(rng, size, cells):
    """Bilinearly up-sampled random lattice: smooth, spatially correlated values in [0, 1]."""
    lat = rng.random((cells + 2, cells + 2)).astype(np.float32)
    coords = np.linspace(0, cells, size, dtype=np.float32)
    i = coords.astype(np.int32)
    f = coords - i
    rows = lat[i] * (1 - f)[:, None] + lat[i + 1] * f[:, None]
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def parcels(rng, size, n_fields):
    """Parcel id per pixel: nearest of jittered field centres on a coarse grid (sharp, straight-ish edges)."""
    g = int(np.sqrt(n_fields))
    step = size / g
    cy, cx = np.meshgrid((np.arange(g) + 0.5) * step, (np.arange(g) + 0.5) * step, indexing='ij')
    cy = (cy + rng.uniform(-0.35, 0.35, cy.shape) * step).ravel()
    cx = (cx + rng.uniform(-0.35, 0.35, cx.shape) * step).ravel()
    ids = np.empty((size, size), dtype=np.int32)
    # Work in row strips to bound memory; candidate centres = the 3x3 coarse cells around each pixel.
    xs = np.arange(size, dtype=np.float32)
    for y0 in range(0, size, 256):
        y1 = min(size, y0 + 256)
        ys = np.arange(y0, y1, dtype=np.float32)[:, None]
        best = np.full((y1 - y0, size), np.inf, dtype=np.float32)
        bid = np.zeros((y1 - y0, size), dtype=np.int32)
        gy = int((y0 + y1) / 2 // step)
        for j in range(max(0, gy - 2), min(g, gy + 3)):
            for k in range(g):
                idx = j * g + k
                d = (ys - cy[idx]) ** 2 + (xs[None, :] - cx[idx]) ** 2
                m = d < best
                best[m] = d[m]
                bid[m] = idx
        ids[y0:y1] = bid
    return ids


def main():
    size = int(sys.argv[1])
    out = sys.argv[2]
    rng = np.random.default_rng(42)
    n_fields = max(16, int((size / 120) ** 2))  # ~1.2 km parcels
    # Parcels on a 4x coarser lattice, repeated: sharp (stair-stepped) edges at a fraction of the cost.
    f = 4
    small = -(-size // f)
    pid = np.repeat(np.repeat(parcels(rng, small, n_fields), f, axis=0), f, axis=1)[:size, :size]
    nf = int(pid.max()) + 1
    crop = rng.random(nf).astype(np.float32)          # vegetation vigour per parcel
    cleared = rng.random(nf) < 0.12                     # parcels cleared between the dates
    regrown = (~cleared) & (rng.random(nf) < 0.08)
    terrain = smooth_field(rng, size, max(4, size // 400))
    texture = smooth_field(rng, size, max(8, size // 40))
    veg = np.clip(crop[pid] * 0.8 + 0.25 * (texture - 0.5), 0, 1)
    yy = np.arange(size, dtype=np.float32)[:, None]
    xx = np.arange(size, dtype=np.float32)[None, :]
    river = np.abs(yy - size * (0.45 + 0.1 * np.sin(xx / (size / 7)))) < max(3, size / 900)
    del yy, xx
    gt = (500000.0, 10.0, 0.0, 4200000.0, 0.0, -10.0)
    for date in ('before', 'after'):
        d = os.path.join(out, date)
        os.makedirs(d, exist_ok=True)
        v = veg.copy()
        if date == 'after':
            v[cleared[pid]] *= 0.15
            v[regrown[pid]] = np.minimum(1, v[regrown[pid]] + 0.5)
        for band, (soil, green, sigma) in {'B04': (1400, -1000, 35), 'B08': (2200, 2800, 60)}.items():
            noise = rng.normal(0, sigma, (size, size)).astype(np.float32)
            val = soil + green * v + 600 * (terrain - 0.5) + noise
            val[river] = 300 if band == 'B04' else 150
            arr = np.clip(np.rint(val), 1, 65535).astype(np.uint16)
            del noise, val
            mem = gdal.GetDriverByName('MEM').Create('', size, size, 1, gdal.GDT_UInt16)
            mem.SetGeoTransform(gt)
            mem.SetProjection('EPSG:32633')
            b = mem.GetRasterBand(1)
            b.WriteArray(arr)
            b.SetNoDataValue(0)
            gdal.Translate(os.path.join(d, f'{band}.tif'), mem, format='COG',
                           creationOptions=['COMPRESS=DEFLATE', 'PREDICTOR=YES', 'BLOCKSIZE=512', 'NUM_THREADS=ALL_CPUS', 'OVERVIEWS=NONE'])
            mem = None
            del arr
    open(os.path.join(out, 'DONE'), 'w').write(f'{size}\n')


if __name__ == '__main__':
    main()
