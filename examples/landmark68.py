# face-api.js's FaceLandmark68Net (@vladmandic/face-api 1.7.15: src/faceLandmarkNet/FaceLandmark68Net.ts with
# src/faceFeatureExtractor/FaceFeatureExtractor.ts): 68 (x, y) face landmarks from a 112x112 RGB crop (pixel
# values 0..255). 356,840 parameters, named as in face-api's face_landmark_68_model-weights_manifest.json
# (dense0/conv0/filters, ..., fc/weights) so its published weights import with no mapping. The output is the
# net's 136 raw values (x0, y0, x1, y1, ...) as fractions of the 112 px input, before face-api's
# postProcess (which scales them to the original image and removes its square padding).
image = Input(112, 112, 3)
target = Input(136)


def dense_block(x, channels, first=False):
    # faceFeatureExtractor/denseBlock.ts denseBlock4: conv0 (stride 2, 'same': TensorFlow's asymmetric
    # padding) is a plain 3x3 conv in the first block and a separable one after; conv1..conv3 are 3x3
    # separable convs, each + bias. face-api sums the relu'd conv0 (out1 = relu(conv0)), not conv0 itself.
    if first:
        c0 = conv2d(x, channels, kernel=3, stride=2, name="conv0")
    else:
        c0 = separable_conv2d(x, channels, kernel=3, stride=2, name="conv0")
    r0 = relu(c0)
    c1 = separable_conv2d(r0, channels, kernel=3, name="conv1")
    c2 = separable_conv2d(relu(r0 + c1), channels, kernel=3, name="conv2")
    c3 = separable_conv2d(relu(r0 + c1 + c2), channels, kernel=3, name="conv3")
    return relu(r0 + c1 + c2 + c3)


# FaceFeatureExtractor.forwardInput: subtract the channel means [122.782, 117.001, 104.298], divide by 255.
x = (image - [122.782, 117.001, 104.298]) / 255
x = dense_block(x, 32, first=True, name="dense0")   # 56x56
x = dense_block(x, 64, name="dense1")               # 28x28
x = dense_block(x, 128, name="dense2")              # 14x14
x = dense_block(x, 256, name="dense3")              # 7x7
# tf.avgPool(out, [7, 7], [2, 2], 'valid') -> 1x1x256, then fullyConnectedLayer: matMul + bias.
landmarks = dense(avg_pool(x, 7, stride=2), 136, name="fc")
Output(landmarks)
Train(loss=mse(landmarks, target), optimizer=Adam(lr=0.001), batch=16, epochs=20)
