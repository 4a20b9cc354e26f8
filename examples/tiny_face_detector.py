# face-api.js's TinyFaceDetector (@vladmandic/face-api 1.7.15: src/tinyFaceDetector/TinyFaceDetector.ts
# runs TinyYolov2Base.runMobilenet with separable convs, filter sizes 3, 16, 32, 64, 128, 256, 512, so no
# conv6/conv7). A 416x416 RGB image (pixel values 0..255) in; a 13x13 grid of 5 anchors x (x, y, w, h,
# score) raw values out, before face-api's box decoding (sigmoid, anchors, non-max suppression).
# 193,321 parameters, named as in face-api's tiny_face_detector_model-weights_manifest.json (conv0/filters,
# conv1/depthwise_filter, ..., conv8/bias), so its published weights import with no mapping.
image = Input(416, 416, 3)


def sep(x, channels, name):
    # tinyYolov2/depthwiseSeparableConv.ts: pad 1 on every side, then a 3x3 separable conv 'valid' (the
    # same as 'same' at stride 1), + bias, then leaky(). leaky() computes relu(x - 0.1 x) + 0.1 x: a leaky
    # relu of slope 0.1. Declaring `name` keeps this helper from opening a scope: the names stay conv1/...
    return leaky_relu(separable_conv2d(x, channels, kernel=3, name=name), alpha=0.1)


# TinyYolov2Base.forwardInput: subtract TinyFaceDetector's MEAN_RGB, then divide by 255 (face-api.js 0.22.2
# divided by 256; @vladmandic/face-api divides by 255).
x = (image - [117.001, 114.697, 97.404]) / 255
# isFirstLayerConv2d: conv0 is a plain 3x3 conv 3->16 with 'valid' padding (416 -> 414), + bias, leaky.
x = leaky_relu(conv2d(x, 16, kernel=3, padding="valid", name="conv0"), alpha=0.1)
# Each stage ends in a 2x2 max pool, stride 2, 'same' (TensorFlow's: 207 -> 104 pads one row at the bottom).
x = max_pool(x, 2, padding="same")                          # 207
x = max_pool(sep(x, 32, name="conv1"), 2, padding="same")   # 104
x = max_pool(sep(x, 64, name="conv2"), 2, padding="same")   # 52
x = max_pool(sep(x, 128, name="conv3"), 2, padding="same")  # 26
x = max_pool(sep(x, 256, name="conv4"), 2, padding="same")  # 13
# After conv5 the pool has stride 1 ('same': 13 -> 13, one row and column of padding at the end).
x = max_pool(sep(x, 512, name="conv5"), 2, stride=1, padding="same")
# conv8 (convLayer, 'valid', no activation): a 1x1 conv 512 -> 25 = 5 anchors x (x, y, w, h, score).
boxes = conv2d(x, 25, kernel=1, padding="valid", name="conv8")
Output(boxes)
