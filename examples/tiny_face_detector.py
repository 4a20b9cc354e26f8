# A TinyFaceDetector-like net (face-api.js): a 3x3 conv and leaky relus, then separable stages with
# 2x2 max pools, and a 1x1 conv head giving 5 anchors x (x, y, w, h, score) per cell of a 13x13 grid.
image = Input(416, 416, 3)


def stage(x, channels, pool_stride=2):
    x = leaky_relu(separable_conv2d(x, channels, kernel=3), alpha=0.1)
    return max_pool(x, 2, stride=pool_stride, padding="same")


x = image / 255
x = conv2d(x, 16, kernel=3, name="conv0")
x = max_pool(leaky_relu(x, alpha=0.1), 2)
for channels in [32, 64, 128, 256]:
    x = stage(x, channels)
x = stage(x, 512, pool_stride=1)
x = leaky_relu(separable_conv2d(x, 512, kernel=3), alpha=0.1)
boxes = conv2d(x, 25, kernel=1, name="head")
Output(boxes)
