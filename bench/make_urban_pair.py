#!/usr/bin/env python3
"""
Synthetic tile pair for the cost of the learned urban model (`node dist/bench/urban-model-cost.js`): the ten
10/20 m bands the model reads (B02-B08, B8A, B11, B12), all on the 10 m grid in 1024x1024 COG tiles (as a
resampled L2A stack), parcels of vegetation with terrain and noise (the parcels of make_synthetic.py), and on the
after date about 0.5 % of the pixels turned to "construction" in rectangles of 2-8 px plus 10 % of the parcels
harvested. Values are DN = reflectance x 10000, nodata 0. Deterministic (seeded). Not labelled data: only a load.

Usage: /usr/bin/python3 bench/make_urban_pair.py SIZE OUT_DIR
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_synthetic import parcels, smooth_field, write_cog  # noqa: E402

# Per band: vegetation DN, bare/harvested DN, concrete DN.
BANDS = {
    'B02': (400, 700, 1400), 'B03': (700, 950, 1600), 'B04': (500, 1100, 1800), 'B05': (1100, 1500, 2000),
    'B06': (2600, 1800, 2100), 'B07': (3100, 1900, 2150), 'B08': (3500, 2000, 2200), 'B8A': (3600, 2100, 2250),
    'B11': (1800, 2600, 2800), 'B12': (900, 1700, 2500),
}


def main():
    size, out = int(sys.argv[1]), sys.argv[2]
    rng = np.random.default_rng(7)
    n_fields = max(16, int((size / 120) ** 2))
    f = 4
    small = -(-size // f)
    pid = np.repeat(np.repeat(parcels(rng, small, n_fields), f, axis=0), f, axis=1)[:size, :size]
    nf = int(pid.max()) + 1
    vigour = (0.6 + 0.4 * rng.random(nf)).astype(np.float32)[pid]
    harvested = (rng.random(nf) < 0.1)[pid]
    terrain = smooth_field(rng, size, max(4, size // 400)) - 0.5
    built = np.zeros((size, size), bool)
    for _ in range(int(0.005 * size * size / 20)):
        w, h = rng.integers(2, 9, 2)
        x, y = rng.integers(0, size - 9, 2)
        built[y:y + h, x:x + w] = True
    gt = (500000.0, 10.0, 0.0, 4200000.0, 0.0, -10.0)
    for date in ('before', 'after'):
        d = os.path.join(out, date)
        os.makedirs(d, exist_ok=True)
        for band, (veg, bare, concrete) in BANDS.items():
            val = veg * vigour + 400 * terrain + rng.normal(0, 40, (size, size)).astype(np.float32)
            if date == 'after':
                val[harvested] = bare + 400 * terrain[harvested]
                val[built] = concrete
            write_cog(os.path.join(d, f'{band}.tif'), np.clip(np.rint(val), 1, 65535).astype(np.uint16), gt, 1024)
            del val
    open(os.path.join(out, 'DONE'), 'w').write(f'{size} urban v1\n')


if __name__ == '__main__':
    main()
