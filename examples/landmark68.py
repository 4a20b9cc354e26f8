# FaceLandmark68Net from face-api.js: 68 (x, y) face landmarks from a 112x112 RGB crop.
# 356,840 parameters. Names follow face-api.js (dense0/conv0/filters, ..., fc/weights) so its
# published weights map onto this spec one to one.
image = Input(112, 112, 3)
target = Input(136)


def dense_block(x, channels, first=False):
    if first:
        c0 = conv2d(x, channels, kernel=3, stride=2, name="conv0")
    else:
        c0 = separable_conv2d(x, channels, kernel=3, stride=2, name="conv0")
    c1 = separable_conv2d(relu(c0), channels, kernel=3, name="conv1")
    c2 = separable_conv2d(relu(c0 + c1), channels, kernel=3, name="conv2")
    c3 = separable_conv2d(relu(c0 + c1 + c2), channels, kernel=3, name="conv3")
    return relu(c0 + c1 + c2 + c3)


# face-api.js preprocessing: subtract the ImageNet channel means, then scale to about [-0.5, 0.5].
x = (image - [122.782, 117.001, 104.298]) / 255
x = dense_block(x, 32, first=True, name="dense0")
x = dense_block(x, 64, name="dense1")
x = dense_block(x, 128, name="dense2")
x = dense_block(x, 256, name="dense3")
landmarks = dense(avg_pool(x, 7, stride=2), 136, name="fc")
Output(landmarks)
Train(loss=mse(landmarks, target), optimizer=Adam(lr=0.001), batch=16, epochs=20)
