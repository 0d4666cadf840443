#!/usr/bin/python3
"""
Build a corpus of GeoTIFFs with GDAL (every compression, sample type and layout this GDAL writes) and record what
GDAL itself reads from each: whether it opens, its size, and its pixels (all bands, as float64, little-endian, in
<name>.gdal.f64). Seeded: the same corpus every run. Used by bench/tiff-corpus.mjs and tests/tiff-corpus.test.ts.

Usage: /usr/bin/python3 bench/tiff_corpus.py OUT_DIR [--quick]
"""
import json, os, shutil, sys
import numpy as np
from osgeo import gdal, osr

gdal.UseExceptions()
out = sys.argv[1]
quick = '--quick' in sys.argv
os.makedirs(out, exist_ok=True)
W, H = 67, 53  # odd sizes: partial tiles and strips
rng = np.random.default_rng(17)
srs = osr.SpatialReference(); srs.ImportFromEPSG(32629)
GT = (499980.0, 20.0, 0.0, 5900040.0, 0.0, -20.0)

def source(dtype, bands, lo, hi):
    """A smooth field plus noise in [lo, hi] (smooth so JPEG/WebP/LERC errors stay small), as a MEM dataset."""
    gdt = {'Byte': gdal.GDT_Byte, 'UInt16': gdal.GDT_UInt16, 'Int16': gdal.GDT_Int16, 'UInt32': gdal.GDT_UInt32,
           'Int32': gdal.GDT_Int32, 'Float32': gdal.GDT_Float32, 'Float64': gdal.GDT_Float64,
           'Int64': gdal.GDT_Int64, 'UInt64': gdal.GDT_UInt64, 'CInt16': gdal.GDT_CInt16, 'CFloat32': gdal.GDT_CFloat32}[dtype]
    ds = gdal.GetDriverByName('MEM').Create('', W, H, bands, gdt)
    ds.SetGeoTransform(GT); ds.SetProjection(srs.ExportToWkt())
    yy, xx = np.mgrid[0:H, 0:W]
    for b in range(bands):
        f = 0.5 + 0.25 * np.sin(xx / (7.0 + b)) * np.cos(yy / 9.0) + 0.05 * rng.random((H, W))
        a = lo + np.clip(f, 0, 1) * (hi - lo)
        ds.GetRasterBand(b + 1).WriteArray(a.round() if 'Float' not in dtype else a)
    return ds

cases = []  # (name, dtype, bands, lo, hi, creation options, extra translate args)
ints = {'Byte': (0, 255), 'UInt16': (0, 20000), 'Int16': (-2000, 12000), 'UInt32': (0, 70000), 'Int32': (-70000, 70000),
        'Float32': (-1.0, 1.0), 'Float64': (-1.0, 1.0)}
for dtype, (lo, hi) in ints.items():
    for comp in ['NONE', 'DEFLATE', 'LZW', 'ZSTD', 'PACKBITS', 'LZMA', 'LERC', 'LERC_DEFLATE', 'LERC_ZSTD']:
        for layout in (['TILED=YES'], ['TILED=NO'], ['TILED=YES', 'INTERLEAVE=BAND'], ['TILED=NO', 'INTERLEAVE=BAND']):
            if quick and comp not in ('LERC', 'PACKBITS') and layout != ['TILED=YES']:
                continue
            bands = 3 if len(layout) > 1 or not quick else 1
            co = [f'COMPRESS={comp}', 'BLOCKXSIZE=32', 'BLOCKYSIZE=32', *layout] if layout[0] == 'TILED=YES' else [f'COMPRESS={comp}', 'BLOCKYSIZE=5', *layout]
            if comp.startswith('LERC'):
                co.append('MAX_Z_ERROR=0')
            cases.append((f"{dtype}_{comp}_{'tiled' if layout[0] == 'TILED=YES' else 'strips'}{'_planar' if len(layout) > 1 else ''}", dtype, bands, lo, hi, co, []))
        if comp in ('DEFLATE', 'LZW', 'ZSTD'):
            pred = '3' if dtype.startswith('Float') else '2'
            cases.append((f'{dtype}_{comp}_pred{pred}', dtype, 2, lo, hi, [f'COMPRESS={comp}', f'PREDICTOR={pred}', 'TILED=YES', 'BLOCKXSIZE=32', 'BLOCKYSIZE=32'], []))
# Sub-byte and odd bit depths, signed bytes, half floats, JPEG, WebP, CCITT, big-endian, BigTIFF, COG, sparse.
for nbits in (1, 2, 4, 12, 15):
    dt = 'Byte' if nbits < 8 else 'UInt16'
    for comp in ('NONE', 'DEFLATE', 'LZW'):
        cases.append((f'nbits{nbits}_{comp}', dt, 1, 0, 2 ** nbits - 1, [f'NBITS={nbits}', f'COMPRESS={comp}'], []))
cases.append(('nbits1_ccittfax4', 'Byte', 1, 0, 1, ['NBITS=1', 'COMPRESS=CCITTFAX4'], []))
cases.append(('nbits1_ccittrle', 'Byte', 1, 0, 1, ['NBITS=1', 'COMPRESS=CCITTRLE'], []))
cases.append(('nbits1_ccittfax3', 'Byte', 1, 0, 1, ['NBITS=1', 'COMPRESS=CCITTFAX3'], []))
for comp in ('NONE', 'DEFLATE'):
    cases.append((f'int8_{comp}', 'Byte', 1, 0, 255, [f'COMPRESS={comp}', 'PIXELTYPE=SIGNEDBYTE'], []))
    cases.append((f'float16_{comp}', 'Float32', 1, -1.0, 1.0, [f'COMPRESS={comp}', 'NBITS=16'], []))
for bands in (1, 3):
    for tiled in ('YES', 'NO'):
        cases.append((f'jpeg_{bands}b_tiled{tiled}', 'Byte', bands, 0, 255, ['COMPRESS=JPEG', f'TILED={tiled}', 'BLOCKXSIZE=32', 'BLOCKYSIZE=32' if tiled == 'YES' else 'BLOCKYSIZE=16'], []))
cases.append(('jpeg_ycbcr_tiled', 'Byte', 3, 0, 255, ['COMPRESS=JPEG', 'PHOTOMETRIC=YCBCR', 'TILED=YES', 'BLOCKXSIZE=32', 'BLOCKYSIZE=32'], []))
cases.append(('jpeg_ycbcr_strips', 'Byte', 3, 0, 255, ['COMPRESS=JPEG', 'PHOTOMETRIC=YCBCR', 'BLOCKYSIZE=16'], []))
cases.append(('jpeg12_uint16', 'UInt16', 1, 0, 4095, ['COMPRESS=JPEG', 'NBITS=12', 'TILED=YES'], []))
cases.append(('jpeg_planar', 'Byte', 3, 0, 255, ['COMPRESS=JPEG', 'INTERLEAVE=BAND', 'TILED=YES', 'BLOCKXSIZE=32', 'BLOCKYSIZE=32'], []))
cases.append(('webp_rgb', 'Byte', 3, 0, 255, ['COMPRESS=WEBP', 'WEBP_LOSSLESS=YES', 'TILED=YES', 'BLOCKXSIZE=32', 'BLOCKYSIZE=32'], []))
cases.append(('webp_rgba', 'Byte', 4, 0, 255, ['COMPRESS=WEBP', 'WEBP_LOSSLESS=YES'], []))
for dtype in ('UInt16', 'Float32', 'Float64'):
    cases.append((f'bigendian_{dtype}_deflate', dtype, 2, *ints[dtype], ['ENDIANNESS=BIG', 'COMPRESS=DEFLATE', 'PREDICTOR=2' if dtype == 'UInt16' else 'PREDICTOR=3', 'TILED=YES'], []))
    cases.append((f'bigendian_{dtype}_none', dtype, 1, *ints[dtype], ['ENDIANNESS=BIG'], []))
cases.append(('bigtiff_uint16_deflate', 'UInt16', 2, 0, 20000, ['BIGTIFF=YES', 'COMPRESS=DEFLATE', 'TILED=YES'], []))
cases.append(('bigtiff_uint16_strips', 'UInt16', 1, 0, 20000, ['BIGTIFF=YES'], []))
cases.append(('sparse_uint16', 'UInt16', 1, 0, 20000, ['SPARSE_OK=TRUE', 'TILED=YES', 'BLOCKXSIZE=16', 'BLOCKYSIZE=16'], ['sparse']))
cases.append(('palette_byte', 'Byte', 1, 0, 255, ['COMPRESS=DEFLATE'], ['palette']))
cases.append(('miniswhite_byte', 'Byte', 1, 0, 255, ['PHOTOMETRIC=MINISWHITE'], []))
cases.append(('rgb_pixel_lzw', 'Byte', 3, 0, 255, ['COMPRESS=LZW', 'PHOTOMETRIC=RGB'], []))
cases.append(('rgba_alpha', 'Byte', 4, 0, 255, ['ALPHA=YES', 'COMPRESS=DEFLATE'], []))
cases.append(('nodata_float32', 'Float32', 1, -1.0, 1.0, ['COMPRESS=DEFLATE'], ['nodata']))
cases.append(('overviews_cog', 'UInt16', 1, 0, 20000, ['COMPRESS=DEFLATE'], ['cog']))
for dtype in ('Int64', 'UInt64', 'CInt16', 'CFloat32'):
    cases.append((f'{dtype.lower()}_none', dtype, 1, 0, 1000, [], []))
if quick:
    keep = ('Byte_LERC_tiled', 'UInt16_PACKBITS_tiled', 'nbits1_NONE', 'nbits4_DEFLATE', 'nbits15_NONE', 'int8_NONE', 'float16_DEFLATE',
            'jpeg_1b_tiledYES', 'jpeg_ycbcr_tiled', 'Float32_LERC_tiled', 'UInt16_LZMA_tiled', 'webp_rgb', 'int64_none', 'cfloat32_none',
            'UInt16_PACKBITS_tiled_planar', 'Byte_LERC_strips_planar')
    cases = [c for c in cases if c[0] in keep]

manifest = []
for name, dtype, bands, lo, hi, co, extra in cases:
    path = os.path.join(out, f'{name}.tif')
    entry = {'name': name, 'file': path, 'options': co + extra}
    try:
        src = source(dtype, bands, lo, hi)
        if 'palette' in extra:
            ct = gdal.ColorTable()
            for i in range(256): ct.SetColorEntry(i, (i, 255 - i, (i * 7) % 256, 255))
            src.GetRasterBand(1).SetRasterColorTable(ct)
        if 'nodata' in extra:
            src.GetRasterBand(1).SetNoDataValue(-9999.0)
            a = src.GetRasterBand(1).ReadAsArray(); a[:5, :5] = -9999.0; src.GetRasterBand(1).WriteArray(a)
        if 'sparse' in extra:
            a = src.GetRasterBand(1).ReadAsArray(); a[:16, :16] = 0; src.GetRasterBand(1).WriteArray(a)
        if 'cog' in extra:
            gdal.GetDriverByName('COG').CreateCopy(path, src, options=co + ['BLOCKSIZE=128'])
        else:
            gdal.GetDriverByName('GTiff').CreateCopy(path, src, options=co)
        src = None
    except Exception as e:  # GDAL cannot write it: not part of the corpus
        entry['written'] = False; entry['error'] = str(e)
        manifest.append(entry); continue
    entry['written'] = True
    try:
        ds = gdal.Open(path)
        arr = ds.ReadAsArray()
        arr = arr.astype(np.complex128 if np.iscomplexobj(arr) else np.float64)
        if arr.ndim == 2: arr = arr[None]
        entry.update(gdalOpens=True, width=ds.RasterXSize, height=ds.RasterYSize, bands=ds.RasterCount,
                     dtype=gdal.GetDataTypeName(ds.GetRasterBand(1).DataType), lossy='jpeg' in name)
        if not np.iscomplexobj(arr):
            arr.astype('<f8').tofile(path + '.gdal.f64')
    except Exception as e:
        entry.update(gdalOpens=False, error=str(e))
    manifest.append(entry)

# Debian ships no GDAL autotest TIFFs; any TIFF found under /usr/share is added as is (GDAL decides if it counts).
for root in ('/usr/share',):
    for d, _, fs in os.walk(root):
        for f in fs:
            if f.lower().endswith(('.tif', '.tiff')) and len(manifest) < 10000:
                p = os.path.join(d, f)
                dst = os.path.join(out, 'system_' + f)
                shutil.copyfile(p, dst)
                e = {'name': 'system_' + f, 'file': dst, 'options': ['from ' + p], 'written': True}
                try:
                    ds = gdal.Open(dst); a = ds.ReadAsArray().astype(np.float64)
                    if a.ndim == 2: a = a[None]
                    a.astype('<f8').tofile(dst + '.gdal.f64')
                    e.update(gdalOpens=True, width=ds.RasterXSize, height=ds.RasterYSize, bands=ds.RasterCount, dtype=gdal.GetDataTypeName(ds.GetRasterBand(1).DataType), lossy=False)
                except Exception as ex:
                    e.update(gdalOpens=False, error=str(ex))
                manifest.append(e)

json.dump(manifest, open(os.path.join(out, 'manifest.json'), 'w'), indent=1)
print(json.dumps({'written': sum(1 for m in manifest if m.get('written')), 'gdalOpens': sum(1 for m in manifest if m.get('gdalOpens'))}))
