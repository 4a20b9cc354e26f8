# face-api.js's FaceFeatureExtractor, the backbone of its FaceExpressionNet (@vladmandic/face-api 1.7.15:
# src/faceFeatureExtractor/FaceFeatureExtractor.ts, src/faceExpressionNet/FaceExpressionNet.ts,
# src/faceProcessor/FaceProcessor.ts): 256 features of a 112x112 RGB face crop (pixel values 0..255), and
# face-api's expression head on them. 323,687 parameters, named as in face-api's
# face_expression_model-weights_manifest.json (dense0/conv0/filters, ..., fc/weights), so its published
# weights import with no mapping. "features" is a feature extractor for new classes (a KNN head, or a new
# dense head with these layers frozen); "expressions" are face-api's 7 probabilities, in its order:
# neutral, happy, sad, angry, fearful, disgusted, surprised.
image = Input(112, 112, 3)
expression = Input(7)  # one-hot, for fine-tuning the head


def dense_block(x, channels, first=False):
    # faceFeatureExtractor/denseBlock.ts denseBlock4 (as in examples/landmark68.py): conv0 (stride 2, 'same')
    # is a plain 3x3 conv in the first block and a separable one after; conv1..conv3 are 3x3 separable
    # convs, each + bias; face-api sums the relu'd conv0 (out1 = relu(conv0)), not conv0 itself.
    if first:
        c0 = conv2d(x, channels, kernel=3, stride=2, name="conv0")
    else:
        c0 = separable_conv2d(x, channels, kernel=3, stride=2, name="conv0")
    r0 = relu(c0)
    c1 = separable_conv2d(r0, channels, kernel=3, name="conv1")
    c2 = separable_conv2d(relu(r0 + c1), channels, kernel=3, name="conv2")
    c3 = separable_conv2d(relu(r0 + c1 + c2), channels, kernel=3, name="conv3")
    return relu(r0 + c1 + c2 + c3)


# FaceFeatureExtractor.forwardInput: subtract the channel means [122.782, 117.001, 104.298], divide by 255,
# four dense blocks, then tf.avgPool(out, [7, 7], [2, 2], 'valid') -> 1x1x256.
x = (image - [122.782, 117.001, 104.298]) / 255
x = dense_block(x, 32, first=True, name="dense0")   # 56x56
x = dense_block(x, 64, name="dense1")               # 28x28
x = dense_block(x, 128, name="dense2")              # 14x14
x = dense_block(x, 256, name="dense3")              # 7x7
features = flatten(avg_pool(x, 7, stride=2))        # FaceProcessor.runNet: as2D(batch, -1)
Output(features, name="features")
# FaceExpressionNet.forwardInput: softmax(fullyConnectedLayer(features)), matMul + bias.
logits = dense(features, 7, name="fc")
Output(softmax(logits), name="expressions")
Train(loss=softmax_cross_entropy(logits, expression), optimizer=Adam(lr=0.001), batch=16, epochs=10)
