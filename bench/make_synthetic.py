#!/usr/bin/python3
"""Synthetic Sentinel-2-like tile pair for the s2change benchmark.

Writes <out>/before/B04.tif, B08.tif and <out>/after/B04.tif, B08.tif as uint16 COGs (DEFLATE, predictor 2,
512x512 tiles, nodata 0), SIZE x SIZE pixels at 10 m in EPSG:32633. Values are spatially correlated like a real
scene: agricultural parcels with sharp edges (a jittered Voronoi of random field centres), smooth terrain-like
variation, rivers, and sensor noise; the after date has cleared and regrown parcels. They compress like real
L2A bands (roughly 45-60 % of raw), not like random noise or constants.

With --layout l2a the pair looks like an Earth Search L2A tile: 1024x1024 tiles, B02 and B03 as well (true-colour
quicklooks), and SCL.tif per date at 20 m (ceil(SIZE/2) pixels, uint8, nodata 0, same origin): classes 4/5/6 from
the same parcels and river, plus a few percent of cloud (8 medium, 9 high probability) with shadows (3) beside
them, different per date. The 10 m bands are bright under the clouds (semi-transparent edges that SCL does not
flag, as in real scenes: what the 2-pixel cloud buffer is for) and dark in the shadows. Outside clouds and shadows
B04/B08 hold exactly the values of the default layout (the extras draw from their own random generator). Like
Earth Search's COGs, the l2a files carry internal overviews (GDAL's COG driver, OVERVIEWS=AUTO: 2x, 4x, ... down to
one tile; AVERAGE for reflectance, NEAREST for SCL); the default layout has none, as the issue's pair.

Usage: /usr/bin/python3 bench/make_synthetic.py SIZE OUT_DIR [--layout default|l2a]
"""
import argparse
import os

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


# Per band: bare-soil DN, change with vegetation vigour, noise sigma, DN over water. B02/B03 only in the l2a layout.
BANDS = {'B04': (1400, -1000, 35, 300), 'B08': (2200, 2800, 60, 150)}
L2A_BANDS = {'B02': (900, -300, 30, 500), 'B03': (1100, 200, 30, 450)}
CLOUD_DN = {'B02': 6500, 'B03': 6300, 'B04': 6100, 'B08': 6600}  # an opaque cloud is bright and nearly grey
SHADOW_FACTOR = 0.45
SHADOW_OFFSET = (-30, -40)  # rows, columns at 10 m: shadows 300 m north, 400 m west of their clouds (morning sun)
CLOUD_COVER = {'before': 0.03, 'after': 0.05}  # share of the scene with some cloud (opacity > 0)


def shifted(a, dy, dx):
    """`a` moved by (dy, dx) pixels, zero-filled: out[y, x] = a[y - dy, x - dx]."""
    h, w = a.shape
    out = np.zeros_like(a)
    out[max(0, dy):h + min(0, dy), max(0, dx):w + min(0, dx)] = a[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)]
    return out


def clouds(rng, size, cover):
    """Cloud opacity in [0, 1] (0 = clear; soft edges) over about `cover` of the scene, and their shadows (bool)."""
    field = smooth_field(rng, size, max(4, size // 150))      # ~1.5 km blobs
    field += 0.35 * smooth_field(rng, size, max(8, size // 40))  # ragged edges
    lo, hi = np.quantile(field.ravel()[::97], [1 - cover, 1 - 0.4 * cover])
    opacity = np.clip((field - lo) / (hi - lo), 0, 1).astype(np.float32)
    del field
    shadow = shifted(opacity > 0.2, *SHADOW_OFFSET) & (opacity == 0)
    return opacity, shadow


def scene_classification(veg, river, opacity, shadow):
    """SCL at 20 m (the 10 m layers sampled every other pixel): 4 vegetation, 5 bare soil, 6 water, 3 cloud shadow,
    8/9 cloud medium/high probability. Thin cloud edges (opacity <= 0.3) stay unflagged, as in real SCL."""
    s = (slice(None, None, 2), slice(None, None, 2))
    scl = np.where(veg[s] > 0.35, 4, 5).astype(np.uint8)
    scl[river[s]] = 6
    scl[shadow[s]] = 3
    op = opacity[s]
    scl[op > 0.3] = 8
    scl[op > 0.7] = 9
    return scl


def write_cog(path, arr, gt, blocksize, predictor=True, overviews=None):
    """A COG; `overviews` None for none, else GDAL's overview resampling ('AVERAGE' for reflectance, 'NEAREST' for classes)."""
    mem = gdal.GetDriverByName('MEM').Create('', arr.shape[1], arr.shape[0], 1,
                                             gdal.GDT_Byte if arr.dtype == np.uint8 else gdal.GDT_UInt16)
    mem.SetGeoTransform(gt)
    mem.SetProjection('EPSG:32633')
    b = mem.GetRasterBand(1)
    b.WriteArray(arr)
    b.SetNoDataValue(0)
    gdal.Translate(path, mem, format='COG', creationOptions=[
        'COMPRESS=DEFLATE', f'PREDICTOR={"YES" if predictor else "NO"}', f'BLOCKSIZE={blocksize}',
        'NUM_THREADS=ALL_CPUS',
        *(['OVERVIEWS=NONE'] if overviews is None else ['OVERVIEWS=AUTO', f'OVERVIEW_RESAMPLING={overviews}'])])


def main():
    ap = argparse.ArgumentParser(description='Synthetic Sentinel-2-like tile pair for the s2change benchmark.')
    ap.add_argument('size', type=int)
    ap.add_argument('out')
    ap.add_argument('--layout', choices=('default', 'l2a'), default='default')
    args = ap.parse_args()
    size, out, l2a = args.size, args.out, args.layout == 'l2a'
    rng = np.random.default_rng(42)
    extra = np.random.default_rng(1042)  # clouds, B02, B03: B04/B08 draw the same numbers in both layouts
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
    blocksize = 1024 if l2a else 512
    for date in ('before', 'after'):
        d = os.path.join(out, date)
        os.makedirs(d, exist_ok=True)
        v = veg.copy()
        if date == 'after':
            v[cleared[pid]] *= 0.15
            v[regrown[pid]] = np.minimum(1, v[regrown[pid]] + 0.5)
        if l2a:
            opacity, shadow = clouds(extra, size, CLOUD_COVER[date])
            cloudy = opacity > 0
            write_cog(os.path.join(d, 'SCL.tif'), scene_classification(v, river, opacity, shadow),
                      (gt[0], 20.0, 0.0, gt[3], 0.0, -20.0), 1024, predictor=False, overviews='NEAREST')
        for band, (soil, green, sigma, water) in {**BANDS, **(L2A_BANDS if l2a else {})}.items():
            noise = (rng if band in BANDS else extra).normal(0, sigma, (size, size)).astype(np.float32)
            val = soil + green * v + 600 * (terrain - 0.5) + noise
            val[river] = water
            if l2a:
                val[shadow] *= SHADOW_FACTOR
                val[cloudy] += (CLOUD_DN[band] + noise[cloudy] - val[cloudy]) * opacity[cloudy]
            arr = np.clip(np.rint(val), 1, 65535).astype(np.uint16)
            del noise, val
            write_cog(os.path.join(d, f'{band}.tif'), arr, gt, blocksize, overviews='AVERAGE' if l2a else None)
            del arr
    open(os.path.join(out, 'DONE'), 'w').write(done_marker(size, args.layout) + '\n')


def done_marker(size, layout):
    """What DONE holds: the benchmark regenerates a cached pair whose marker differs (an older generator's)."""
    return f'{size} {layout} v2' if layout == 'l2a' else f'{size}'


if __name__ == '__main__':
    main()
