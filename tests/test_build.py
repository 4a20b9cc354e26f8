"""Builder unit tests: compile-time evaluation, inlining and unrolling, names, shapes, padding, IR goldens."""
from pathlib import Path

import pytest

from wgslgrad.compiler.frontend import compile_spec, load_spec
from wgslgrad.compiler.ir import LEAVES, Graph, Op, print_graph
from wgslgrad.ops.linear import Window

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

LANDMARK68 = """
image = Input(112, 112, 3)
target = Input(136)

def dense_block(x, channels, first=False):
    if first:
        c0 = conv2d(x, channels, kernel=3, stride=2)
    else:
        c0 = separable_conv2d(x, channels, kernel=3, stride=2)
    r0 = relu(c0)
    c1 = separable_conv2d(r0, channels, kernel=3)
    c2 = separable_conv2d(relu(r0 + c1), channels, kernel=3)
    c3 = separable_conv2d(relu(r0 + c1 + c2), channels, kernel=3)
    return relu(r0 + c1 + c2 + c3)

x = dense_block(image, 32, first=True)
x = dense_block(x, 64)
x = dense_block(x, 128)
x = dense_block(x, 256)
landmarks = dense(avg_pool(x, 7, stride=2), 136)
Output(landmarks)
Train(loss=mse(landmarks, target), optimizer=Adam(lr=0.001), batch=16)
"""


def spec(body: str, batch: int | None = None) -> Graph:
    return compile_spec(body, "t.py", batch)


def shape_of(body: str, expr: str, *inputs: str) -> tuple[int, ...]:
    """The shape of `expr` with the given inputs declared (batch 2)."""
    g = spec("".join(f"{i}\n" for i in inputs) + f"y = {expr}\nOutput(y)\n", batch=2)
    return g.nodes[g.outputs["y"]].shape


def value_of(expr: str, prelude: str = "") -> object:
    """A compile-time value, observed through Input's dims (which must be positive ints) or a CONST."""
    g = spec(f"{prelude}v = {expr}\nOutput(Input(1) * v)\n")
    const = next(n for n in g.nodes if n.op is Op.CONST)
    return const.attrs.value if const.shape else const.attrs.value[0]


def param_sizes(g: Graph) -> dict[str, tuple[int, ...]]:
    return {k: g.nodes[i].shape for k, i in g.params.items()}


# ---- the reference model


def test_landmark68_has_356840_parameters():
    g = spec(LANDMARK68)
    assert sum(n.size for n in g.nodes if n.op is Op.PARAM) == 356_840
    assert g.batch == 16 and g.nodes[g.outputs["landmarks"]].shape == (16, 136)
    assert "dense_block_1/separable_conv2d_0/depthwise_filter" in g.params
    assert "dense_block_0/conv2d_0/filters" in g.params and "dense_0/weights" in g.params
    assert g.nodes[g.params["dense_block_3/separable_conv2d_3/pointwise_filter"]].shape == (1, 1, 256, 256)


def test_landmark68_example_uses_face_api_names():
    g = load_spec(EXAMPLES / "landmark68.py")
    assert sum(g.nodes[i].size for i in g.params.values()) == 356_840
    names = list(g.params)
    assert names[:5] == ["dense0/conv0/filters", "dense0/conv0/bias", "dense0/conv1/depthwise_filter",
                         "dense0/conv1/pointwise_filter", "dense0/conv1/bias"]
    assert names[-2:] == ["fc/weights", "fc/bias"]
    assert g.train["epochs"] == 20 and g.train["lr"] == 0.001


@pytest.mark.parametrize("name", ["digits", "landmark68", "landmark68_tiny", "tiny_face_detector"])
def test_examples_build(name):
    g = load_spec(EXAMPLES / f"{name}.py", batch=2)
    assert g.batch == 2 and g.outputs


# ---- compile-time evaluation


@pytest.mark.parametrize("expr,value", [
    ("1 + 2 * 3", 7), ("7 // 2", 3), ("7 % 4", 3), ("7 / 2", 3.5), ("2 ** 3", 8), ("-2 ** 2", -4),
    ("1e-7 * 1e7", 1.0), ("3 if 1 < 2 <= 2 else 4", 3), ("3 if 1 < 2 < 2 else 4", 4),
    ("[5, 6][1]", 6), ("(5, 6)[-1]", 6), ("len([1, 2, 3])", 3), ("min(3, 1, 2)", 1), ("max([3, 8, 2])", 8),
    ("int(3.9)", 3), ("float(2)", 2.0), ("abs(-3)", 3), ("0 or 5", 5), ("2 and 6", 6),
    ("1 if not 0 else 2", 1), ("1 if 'a' == 'a' != 'b' else 2", 1), ("1 if None == None else 2", 1),
    ("len(range(2, 10, 3))", 3), ("sum([1, 2, 3])", 6)])
def test_number_expressions(expr, value):
    assert value_of(expr) == value


def test_def_inlining_with_defaults_and_keywords():
    prelude = "def f(a, b=10, c=100):\n    return a + b * 2 + c * 3\n"
    assert value_of("f(1)", prelude) == 321
    assert value_of("f(1, 2)", prelude) == 305
    assert value_of("f(1, c=0)", prelude) == 21
    assert value_of("f(c=1, b=0, a=5)", prelude) == 8
    # defaults are evaluated where the def runs, as in Python
    assert value_of("f()", "k = 1\ndef f(a=k):\n    return a\nk = 2\n") == 1
    # a function without return gives None; functions are values
    assert value_of("1 if g() == None else 2", "def g():\n    pass\n") == 1
    assert value_of("apply(double, 4)", "def double(x):\n    return 2 * x\ndef apply(f, x):\n    return f(x)\n") == 8


def test_docstrings_comments_and_pass_do_nothing():
    g = spec('"""A model."""\n# a comment\nx = Input(3)  # trailing\ndef f(x):\n    """Doc."""\n    pass\n'
             'y = f(x)\nOutput(x)\n')
    assert [n.op for n in g.nodes] == [Op.INPUT]


def test_recursion_within_the_limit_and_tuple_unpacking():
    prelude = "def fact(n):\n    return 1 if n <= 1 else n * fact(n - 1)\n"
    assert value_of("fact(10)", prelude) == 3628800
    assert value_of("a * 10 + b", "a, b = (1, 2)\n") == 12
    assert value_of("a + b + c", "[a, (b, c)] = [1, [2, 3]]\n") == 6


def test_if_and_for_unroll_at_compile_time():
    g = spec("x = Input(4)\nfor i in range(3):\n    x = dense(x, 4)\n"
             "for units in [5, 6]:\n    if units == 5:\n        x = dense(x, units)\n    elif units > 100:\n"
             "        pass\n    else:\n        x = dense(x, units, name='last')\nOutput(x)\n")
    assert list(g.params) == [f"dense_{i}/{leaf}" for i in range(4) for leaf in ("weights", "bias")] + [
        "last/weights", "last/bias"]
    assert g.nodes[g.outputs["x"]].shape == (1, 6)


def test_loop_variable_and_lists_of_tuples():
    g = spec("x = Input(8, 8, 2)\nfor ch, k in [(3, 1), (5, 3)]:\n    x = conv2d(x, ch, kernel=k)\nOutput(x)\n")
    assert param_sizes(g) == {"conv2d_0/filters": (1, 1, 2, 3), "conv2d_0/bias": (3,),
                              "conv2d_1/filters": (3, 3, 3, 5), "conv2d_1/bias": (5,)}


# ---- names


def test_parameter_names_follow_call_sites():
    g = spec("x = Input(8, 8, 4)\n"
             "def block(x, ch):\n    x = separable_conv2d(x, ch)\n    return separable_conv2d(x, ch)\n"
             "def stage(x):\n    return block(block(x, 4), 4)\n"
             "x = block(x, 4)\nx = block(x, 4)\nx = stage(x)\nx = conv2d(x, 2)\nOutput(x)\n")
    names = list(g.params)
    assert "block_1/separable_conv2d_0/depthwise_filter" in names
    assert "block_1/separable_conv2d_1/pointwise_filter" in names
    assert "stage_0/block_1/separable_conv2d_1/bias" in names   # counts restart in each scope
    assert "conv2d_0/filters" in names and "block_2/separable_conv2d_0/bias" not in names


def test_name_overrides_on_layers_and_function_calls():
    g = spec("x = Input(8, 8, 4)\n"
             "def block(x):\n    return separable_conv2d(x, 4, name='conv1')\n"
             "def named(x, name):\n    return conv2d(x, 4, name=name)\n"
             "x = block(x, name='dense0')\nx = block(x)\nx = named(x, 'head')\n"
             "x = dense(x, 3, name='fc/out')\nOutput(x)\n")
    assert list(g.params) == [
        "dense0/conv1/depthwise_filter", "dense0/conv1/pointwise_filter", "dense0/conv1/bias",
        "block_1/conv1/depthwise_filter", "block_1/conv1/pointwise_filter", "block_1/conv1/bias",
        "head/filters", "head/bias", "fc/out/weights", "fc/out/bias"]


def test_function_declaring_name_opens_no_scope():
    """face-api's flat names from a helper: a def with its own `name` parameter names its layers in the
    caller's scope (here inside dense0/), unnamed ones counted there too (a named call counts as well);
    other defs still open fname_K."""
    g = spec("x = Input(8, 8, 4)\n"
             "def sep(x, ch, name=None):\n    return leaky_relu(separable_conv2d(x, ch, name=name), alpha=0.1)\n"
             "def block(x):\n    x = sep(x, 4, name='conv0')\n    return sep(x, 4, 'conv1')\n"
             "x = sep(x, 4, name='conv1')\nx = block(x, name='dense0')\nx = sep(x, 2)\nx = sep(x, 2)\n"
             "Output(x)\n")
    assert [p for p in g.params if p.endswith("/bias")] == [
        "conv1/bias", "dense0/conv0/bias", "dense0/conv1/bias",
        "separable_conv2d_1/bias", "separable_conv2d_2/bias"]
    assert {n.scope for n in g.nodes if n.op == Op.LEAKY_RELU} == {
        "leaky_relu_0", "leaky_relu_1", "leaky_relu_2", "dense0/leaky_relu_0", "dense0/leaky_relu_1"}


def test_node_scopes_and_positions():
    g = spec("x = Input(4, 4, 2)\ndef f(x):\n    return relu(conv2d(x, 2)) + x\ny = f(x)\nOutput(y)\n")
    scopes = [(n.op, n.scope) for n in g.nodes]
    assert scopes == [(Op.INPUT, "x"), (Op.PARAM, "f_0/conv2d_0"), (Op.PARAM, "f_0/conv2d_0"),
                      (Op.CONV2D, "f_0/conv2d_0"), (Op.RELU, "f_0/relu_0"), (Op.ADD, "f_0/add_0")]
    conv, relu, add = g.nodes[3], g.nodes[4], g.nodes[5]
    assert (conv.pos.line, conv.pos.col) == (3, 17)
    assert (relu.pos.line, relu.pos.col) == (3, 12) and (add.pos.line, add.pos.col) == (3, 31)


def test_input_and_output_names():
    g = spec("a = Input(3)\nb = relu(Input(3))\nc = Input(3, name='third')\n"
             "Output(a)\nOutput(a + b)\nOutput(c, name='named')\n")
    assert list(g.inputs) == ["a", "input_1", "third"]
    assert list(g.outputs) == ["a", "output_1", "named"]


# ---- batch and training settings


def test_batch_choice():
    body = "x = Input(3)\nOutput(x)\n"
    assert spec(body).batch == 1
    assert spec(body + "Train(loss=mean(x), batch=8)\n").batch == 8
    assert spec(body + "Train(loss=mean(x), batch=8)\n", batch=2).batch == 2
    # not a top-level literal: found when Train runs, then built again with it
    g = spec(body + "n = 4\nTrain(loss=mean(x), batch=n * 2)\n")
    assert g.batch == 8 and g.nodes[g.inputs["x"]].shape == (8, 3)


def test_train_settings():
    g = spec("x = Input(3)\nt = Input(3)\nOutput(x)\n"
             "Train(loss=mse(x, t), optimizer=Adam(lr=0.01, beta1=0.8, eps=1e-8), batch=4, epochs=3)\n")
    assert g.train == {"optimizer": "adam", "lr": 0.01, "beta1": 0.8, "beta2": 0.999, "eps": 1e-8,
                       "batch": 4, "epochs": 3}
    assert g.nodes[g.loss].op is Op.MSE
    g = spec("x = Input(3)\nOutput(x)\nTrain(mean(x * x))\n")
    assert g.train["lr"] == 0.001 and g.train["epochs"] == 10 and g.nodes[g.loss].op is Op.MEAN
    assert spec("x = Input(3)\nOutput(x)\n").train == {} and spec("x = Input(3)\nOutput(x)\n").loss is None


# ---- padding, exactly TensorFlow's 'same'


@pytest.mark.parametrize("size,k,s,out,pad", [
    (112, 3, 2, 56, (0, 1)), (112, 3, 1, 112, (1, 1)), (112, 1, 2, 56, (0, 0)), (7, 3, 2, 4, (1, 1)),
    (6, 3, 2, 3, (0, 1)), (5, 3, 2, 3, (1, 1)), (5, 4, 1, 5, (1, 2)), (11, 4, 2, 6, (1, 2)), (10, 5, 3, 4, (2, 2)), (1, 3, 2, 1, (1, 1))])
def test_same_padding_matches_tensorflow(size, k, s, out, pad):
    g = spec(f"x = Input({size}, {size}, 1)\ny = conv2d(x, 1, kernel={k}, stride={s})\nOutput(y)\n")
    n = g.nodes[g.outputs["y"]]
    assert n.shape == (1, out, out, 1) and n.attrs.pad == pad + pad and n.attrs.stride == (s, s)


def test_valid_padding_and_rectangular_kernels():
    g = spec("x = Input(9, 7, 2)\ny = conv2d(x, 3, kernel=(3, 1), stride=(2, 1), padding='valid')\nOutput(y)\n")
    n = g.nodes[g.outputs["y"]]
    assert n.shape == (1, 4, 7, 3) and n.attrs == Window(stride=(2, 1), pad=(0, 0, 0, 0))
    assert g.nodes[n.srcs[1]].shape == (3, 1, 2, 3)


# ---- shapes and IR conventions for every op


@pytest.mark.parametrize("expr,shape", [
    ("conv2d(img, 5)", (2, 8, 8, 5)), ("conv2d(img, 5, stride=2, padding='valid')", (2, 3, 3, 5)),
    ("depthwise_conv2d(img)", (2, 8, 8, 3)), ("depthwise_conv2d(img, kernel=5, stride=2)", (2, 4, 4, 3)),
    ("separable_conv2d(img, 6, stride=2)", (2, 4, 4, 6)), ("dense(vec, 7)", (2, 7)), ("dense(img, 7)", (2, 7)),
    ("relu(img)", (2, 8, 8, 3)), ("relu6(vec)", (2, 10)), ("leaky_relu(vec, alpha=0.1)", (2, 10)),
    ("sigmoid(vec)", (2, 10)), ("tanh(vec)", (2, 10)), ("exp(vec)", (2, 10)), ("log(vec)", (2, 10)),
    ("abs(vec)", (2, 10)), ("softmax(vec)", (2, 10)), ("-vec", (2, 10)),
    ("max_pool(img)", (2, 4, 4, 3)), ("max_pool(img, 3, stride=2, padding='same')", (2, 4, 4, 3)),
    ("avg_pool(img, (2, 4))", (2, 4, 2, 3)), ("avg_pool(img, 8)", (2, 1, 1, 3)),
    ("global_avg_pool(img)", (2, 3)), ("reshape(img, [16, 12])", (2, 16, 12)), ("reshape(img, (-1, 4))", (2, 48, 4)),
    ("flatten(img)", (2, 192)), ("concat([img, img, relu(img)])", (2, 8, 8, 9)),
    ("add(vec, 1)", (2, 10)), ("sub(vec, vec)", (2, 10)), ("mul(2, vec)", (2, 10)), ("div(vec, vec)", (2, 10)),
    ("vec + 1", (2, 10)), ("1 - vec", (2, 10)), ("img * [1, 2, 3]", (2, 8, 8, 3)), ("img / img", (2, 8, 8, 3)),
    ("mean(img)", ()), ("sum(vec)", ()), ("sum([vec, vec, vec])", (2, 10)), ("mse(vec, vec)", ()),
    ("softmax_cross_entropy(vec, vec)", ()), ("sigmoid_cross_entropy(vec, vec)", ()),
    ("conv2d(img, 4, activation='leaky_relu')", (2, 8, 8, 4))])
def test_op_shapes(expr, shape):
    assert shape_of("", expr, "img = Input(8, 8, 3)", "vec = Input(10)") == shape


def test_layer_parameters_and_fans():
    g = spec("x = Input(8, 8, 3)\na = conv2d(x, 4, kernel=(3, 5))\nb = depthwise_conv2d(a)\n"
             "c = separable_conv2d(b, 6, kernel=3, use_bias=False)\nd = dense(c, 10, trainable=False)\nOutput(d)\n")
    params = {g.nodes[i].attrs.name: (g.nodes[i].shape, g.nodes[i].attrs) for i in g.params.values()}
    fans = {k: (a.init, a.fan_in, a.fan_out, a.trainable) for k, (_, a) in params.items()}
    assert fans == {
        "conv2d_0/filters": ("glorot_normal", 45, 60, True), "conv2d_0/bias": ("zeros", 4, 4, True),
        "depthwise_conv2d_0/depthwise_filter": ("glorot_normal", 36, 9, True),
        "depthwise_conv2d_0/bias": ("zeros", 4, 4, True),
        "separable_conv2d_0/depthwise_filter": ("glorot_normal", 36, 9, True),
        "separable_conv2d_0/pointwise_filter": ("glorot_normal", 4, 6, True),
        "dense_0/weights": ("glorot_normal", 384, 10, False), "dense_0/bias": ("zeros", 10, 10, False)}
    assert params["depthwise_conv2d_0/depthwise_filter"][0] == (3, 3, 4, 1)
    assert params["separable_conv2d_0/pointwise_filter"][0] == (1, 1, 4, 6)


GOLDEN_CONV_DENSE = """\
%0 = input[name=x] : f32[1,8,8,3]
%1 = param[fan_in=27,fan_out=36,init=glorot_normal,name=conv2d_0/filters,trainable=True] : f32[3,3,3,4]
%2 = param[fan_in=4,fan_out=4,init=zeros,name=conv2d_0/bias,trainable=True] : f32[4]
%3 = conv2d[pad=(0,1,0,1),stride=(2,2)] %0 %1 %2 : f32[1,4,4,4]
%4 = relu %3 : f32[1,4,4,4]
%5 = param[fan_in=64,fan_out=2,init=glorot_normal,name=dense_0/weights,trainable=True] : f32[64,2]
%6 = reshape[shape=(1,64)] %4 : f32[1,64]
%7 = dense %6 %5 : f32[1,2]
output z = %7
"""


def test_ir_golden_conv_activation_dense_flatten():
    g = spec('x = Input(8, 8, 3)\ny = conv2d(x, 4, kernel=3, stride=2, activation="relu")\n'
             'z = dense(y, 2, use_bias=False)\nOutput(z)\n')
    assert print_graph(g) == GOLDEN_CONV_DENSE


GOLDEN_SEPARABLE_POOL = """\
%0 = input[name=x] : f32[1,5,5,2]
%1 = param[fan_in=18,fan_out=9,init=glorot_normal,name=separable_conv2d_0/depthwise_filter,trainable=True] : f32[3,3,2,1]
%2 = param[fan_in=2,fan_out=5,init=glorot_normal,name=separable_conv2d_0/pointwise_filter,trainable=True] : f32[1,1,2,5]
%3 = param[fan_in=5,fan_out=5,init=zeros,name=separable_conv2d_0/bias,trainable=True] : f32[5]
%4 = depthwise[pad=(1,1,1,1),stride=(1,1)] %0 %1 : f32[1,5,5,2]
%5 = conv2d[pad=(0,0,0,0),stride=(1,1)] %4 %2 %3 : f32[1,5,5,5]
%6 = leaky_relu[alpha=0.1] %5 : f32[1,5,5,5]
%7 = max_pool[pad=(0,1,0,1),size=(2,2),stride=(2,2)] %6 : f32[1,3,3,5]
%8 = global_avg_pool %7 : f32[1,5]
output p = %8
"""


def test_ir_golden_separable_leaky_pool():
    g = spec("x = Input(5, 5, 2)\ny = leaky_relu(separable_conv2d(x, 5), alpha=0.1)\n"
             "p = global_avg_pool(max_pool(y, 2, padding='same'))\nOutput(p)\n")
    assert print_graph(g) == GOLDEN_SEPARABLE_POOL


GOLDEN_CONSTANTS_LOSS = """\
%0 = input[name=x] : f32[3,4]
%1 = input[name=t] : f32[3,4]
%2 = const[value=(1.0,2.0,3.0,4.0)] : f32[4]
%3 = sub %0 %2 : f32[3,4]
%4 = const[value=(2.0)] : f32[]
%5 = mul %3 %4 : f32[3,4]
%6 = neg %5 : f32[3,4]
%7 = mse %5 %1 : f32[]
output neg = %6
loss = %7
"""


def test_ir_golden_constants_and_loss():
    g = spec("x = Input(4)\nt = Input(4)\ny = (x - [1, 2, 3, 4]) * 2\nOutput(-y, name='neg')\n"
             "Train(loss=mse(y, t), optimizer=Adam(lr=0.01), batch=3, epochs=2)\n")
    assert print_graph(g) == GOLDEN_CONSTANTS_LOSS
    assert [n.scope for n in g.nodes] == ["x", "t", "sub_0", "sub_0", "mul_0", "mul_0", "neg_0", "mse_0"]


def test_unbatched_tensors_keep_their_shape():
    g = spec("x = Input(2, 2, 3)\nc = reshape(flatten(x), [3, 4])\nOutput(c)\n", batch=5)
    assert g.nodes[g.outputs["c"]].shape == (5, 3, 4)


def test_identical_expressions_are_built_once():
    g = spec(LANDMARK68)
    adds = [n for n in g.nodes if n.op is Op.ADD]
    assert len(adds) == 4 * 3     # c0+c1, (c0+c1)+c2, (c0+c1+c2)+c3 per block; not 1 + 2 + 3
    computed = [(n.op, n.srcs) for n in g.nodes if n.op not in LEAVES]
    assert len(set(computed)) == len(computed)
    g = spec("x = Input(4)\na = relu(x)\nb = relu(x)\nc = leaky_relu(x, 0.1)\nd = leaky_relu(x, 0.2)\n"
             "Output(a + b, name='s')\nOutput(c + d, name='t')")
    assert [n.op for n in g.nodes] == [Op.INPUT, Op.RELU, Op.LEAKY_RELU, Op.LEAKY_RELU, Op.ADD, Op.ADD]
    assert g.nodes[4].srcs == (1, 1)
