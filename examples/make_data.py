"""Write the examples' data sets as .npz files (one array per spec Input).

    python3 examples/make_data.py digits      # examples/data/digits_{train,test}.npz (scikit-learn's digits)
    python3 examples/make_data.py landmarks   # examples/data/landmarks.npz (synthetic, 256 faces)
"""
import sys
from pathlib import Path

import numpy as np

from wgslgrad import datasets

out = Path(__file__).parent / "data"
out.mkdir(exist_ok=True)
which = sys.argv[1:] or ["digits", "landmarks"]
if "digits" in which:
    train, test = datasets.digits()
    np.savez_compressed(out / "digits_train.npz", **train)
    np.savez_compressed(out / "digits_test.npz", **test)
    print(f"wrote {out}/digits_train.npz ({len(train['label'])} samples), digits_test.npz ({len(test['label'])})")
if "landmarks" in which:
    np.savez_compressed(out / "landmarks.npz", **datasets.synthetic_landmarks(256))
    print(f"wrote {out}/landmarks.npz (256 samples)")
