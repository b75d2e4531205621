#!/usr/bin/python3
"""Reference per-channel means for tests/data/image_pipeline_test.cpp (EmojiMatchesNumpyComposite).

Composites three Noto emoji (64x64 RGBA) over white and over black in float64 with numpy
(rgb * alpha + background * (1 - alpha), values / 255) and prints the per-channel means.
Run from the project root: /usr/bin/python3 tests/data/image_emoji_reference.py
"""
import numpy as np
from PIL import Image

for name in ["1f600", "1f680", "2764-fe0f"]:
    a = np.asarray(Image.open("../shared/data/emoji/images_64px/%s.png" % name).convert("RGBA"),
                   np.float64) / 255
    rgb, alpha = a[..., :3], a[..., 3:]
    white = (rgb * alpha + (1 - alpha)).mean((0, 1))
    black = (rgb * alpha).mean((0, 1))
    print('    {"%s", {%s}, {%s}},' % (name, ", ".join("%.6f" % x for x in white),
                                        ", ".join("%.6f" % x for x in black)))
