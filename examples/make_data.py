"""Write the examples' data sets as .npz files (one array per spec Input).

    python3 examples/make_data.py digits      # examples/data/digits_{train,test}.npz (scikit-learn's digits)
    python3 examples/make_data.py landmarks   # examples/data/landmarks.npz (synthetic, 256 faces)
    python3 examples/make_data.py chars       # examples/data/chars_{train,test}.npz (Python's documentation text)
"""
import sys
from pathlib import Path

import numpy as np

from wgslgrad import datasets, text

out = Path(__file__).parent / "data"
out.mkdir(exist_ok=True)
which = sys.argv[1:] or ["digits", "landmarks", "chars"]
if "digits" in which:
    train, test = datasets.digits()
    np.savez_compressed(out / "digits_train.npz", **train)
    np.savez_compressed(out / "digits_test.npz", **test)
    print(f"wrote {out}/digits_train.npz ({len(train['label'])} samples), digits_test.npz ({len(test['label'])})")
if "landmarks" in which:
    np.savez_compressed(out / "landmarks.npz", **datasets.synthetic_landmarks(256))
    print(f"wrote {out}/landmarks.npz (256 samples)")
if "chars" in which:
    # examples/char_lstm.py's data: windows of 32 characters and the character after each, one-hot
    train, held = text.char_data(32)
    np.savez_compressed(out / "chars_train.npz", **train)
    np.savez_compressed(out / "chars_test.npz", **held)
    print(f"wrote {out}/chars_train.npz ({len(train['chars'])} windows of 32 characters), "
          f"chars_test.npz ({len(held['chars'])})")
