"""The super-net runs exactly the standalone NB-101 network of a cell (nasbench_pytorch), weight for weight."""

import numpy as np
import pytest
import torch

from wsnas.space import OPS, SPACES, Cell, InvalidCellError, UnknownSpaceError, compute_vertex_channels
from wsnas.supernet import (
    CellOutsideSpaceError,
    SharedInput,
    SuperNet,
    extract_network,
    vertex_width,
)

STEM = 16


def random_cells(space: str, count: int, seed: int) -> list[Cell]:
    """Seeded random pruned cells of `space` by rejection sampling of random 7-vertex DAGs."""
    rng = np.random.default_rng(seed)
    cells: list[Cell] = []
    while len(cells) < count:
        num_vertices = int(rng.integers(3, 8))
        adjacency = np.triu(rng.random((num_vertices, num_vertices)) < 0.45, k=1).astype(np.int64)
        ops = ("input", *(OPS[i] for i in rng.integers(0, 3, num_vertices - 2)), "output")
        try:
            cell = Cell(adjacency, ops).pruned()
        except InvalidCellError:
            continue
        if space in cell.spaces():
            cells.append(cell)
    return cells


def cell(rows: list[list[int]], *ops: str) -> Cell:
    return Cell(np.array(rows), ("input", *ops, "output"))


C3, C1, MP = OPS
INPUT_OUTPUT_ONLY = cell([[0, 1], [0, 0]])
# Three vertices share 16 output channels as 6, 5, 5: vertex 1 (6) feeds vertex 2 (5), so it is truncated.
TRUNCATING = cell(
    [[0, 1, 1, 1, 0], [0, 0, 1, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], C3, C1, MP
)
WITH_INPUT_OUTPUT_EDGE = cell(
    [[0, 1, 1, 0, 1], [0, 0, 0, 1, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]], C1, MP, C3
)
SPECIAL_CELLS = [INPUT_OUTPUT_ONLY, TRUNCATING, WITH_INPUT_OUTPUT_EDGE]


def randomise(net: torch.nn.Module, seed: int) -> None:
    """Random weights and random BN running statistics (not the defaults, which hide slicing errors)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in [*net.named_parameters(), *net.named_buffers()]:
            if name.endswith("num_batches_tracked"):
                continue
            values = torch.rand(tensor.shape, generator=generator)
            tensor.copy_(values + 0.5 if name.endswith("running_var") else (values - 0.5) * 0.8)


def test_special_cells_are_what_they_claim():
    assert compute_vertex_channels(STEM, STEM, TRUNCATING.adjacency) == [STEM, 6, 5, 5, STEM]
    assert WITH_INPUT_OUTPUT_EDGE.input_output_edge and "A0-res" in WITH_INPUT_OUTPUT_EDGE.spaces()
    assert INPUT_OUTPUT_ONLY.spaces() == ["A0", "A0-res"]


@pytest.mark.parametrize("single_kernel", [False, True], ids=["separate", "single_k"])
@pytest.mark.parametrize("space", SPACES)
def test_supernet_equals_extracted_network(space, single_kernel):
    cells = random_cells(space, 3, seed=SPACES.index(space)) + [c for c in SPECIAL_CELLS if space in c.spaces()]
    supernet = SuperNet(space, single_kernel=single_kernel, stem_channels=STEM)
    randomise(supernet, seed=1)
    supernet.eval()
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        for c in cells:
            network = extract_network(supernet, c)
            assert not network.training
            torch.testing.assert_close(supernet(images, c), network(images), rtol=0, atol=1e-5)


def test_extracted_network_has_the_supernet_batch_norm_settings():
    supernet = SuperNet("A0", bn_momentum=0.003, bn_eps=1e-3, stem_channels=8)
    network = extract_network(supernet, TRUNCATING)
    norms = [m for m in network.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.003 and m.eps == 1e-3 for m in norms)


def test_training_mode_updates_only_the_sliced_statistics_like_the_standalone_network():
    """In training mode both nets normalise with batch statistics and update the same running stats."""
    supernet = SuperNet("A0", stem_channels=STEM)
    randomise(supernet, seed=3)
    network = extract_network(supernet, TRUNCATING)
    supernet.train()
    network.train()
    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(supernet(images, TRUNCATING), network(images), rtol=0, atol=1e-5)
    cell_bn = network.layers[1].vertex_op[1].conv3x3.conv_bn_relu[1]
    super_bn = supernet.cells[0].vertices[0].conv3x3.bn
    torch.testing.assert_close(super_bn.running_mean[:6], cell_bn.running_mean, rtol=0, atol=1e-6)
    torch.testing.assert_close(super_bn.running_var[:6], cell_bn.running_var, rtol=0, atol=1e-6)


def test_cell_outside_the_space_is_refused_naming_the_space():
    supernet = SuperNet("A3", stem_channels=STEM)
    with pytest.raises(CellOutsideSpaceError, match="not in search space A3"):
        supernet(torch.zeros(1, 3, 32, 32), WITH_INPUT_OUTPUT_EDGE)
    with pytest.raises(CellOutsideSpaceError, match="A3"):
        extract_network(supernet, INPUT_OUTPUT_ONLY)


def test_bad_construction_arguments_raise_clear_errors():
    with pytest.raises(UnknownSpaceError, match="A7"):
        SuperNet("A7")
    with pytest.raises(ValueError, match="stem_channels"):
        SuperNet("A0", stem_channels=4)
    with pytest.raises(TypeError, match="wsnas.space.Cell"):
        SuperNet("A1")(torch.zeros(1, 3, 32, 32), (np.eye(2), ("input", "output")))


def test_vertex_width():
    assert [vertex_width(s, 16) for s in SPACES] == [16, 16, 8, 6, 4, 16, 16]


def test_gradients_touch_only_the_weights_the_cell_uses():
    """Cell TRUNCATING at the first position: slots 1–3 with widths 6, 5, 5; conv3x3 at 1, conv1x1 at 2, pool at 3."""
    supernet = SuperNet("A0", stem_channels=STEM)
    supernet.train()
    images = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    supernet(images, TRUNCATING).sum().backward()
    first = supernet.cells[0]
    used = {
        "vertices.0.conv3x3": 6,
        "vertices.1.conv1x1": 5,
        "input_projections.0": 6,
        "input_projections.1": 5,
        "input_projections.2": 5,
    }
    for name, parameter in first.named_parameters():
        module = name.rsplit(".", 2)[0]
        if module not in used:
            assert parameter.grad is None, f"{name} received a gradient but the cell does not use it"
            continue
        channels = used[module]
        grad = parameter.grad
        assert grad[:channels].abs().sum() > 0, f"{name} has no gradient on its used slice"
        assert grad[channels:].abs().sum() == 0, f"{name} has a gradient beyond its first {channels} filters"
        if grad.dim() == 4 and module.startswith("vertices"):
            assert grad[:, channels:].abs().sum() == 0, f"{name} has a gradient beyond its first input channels"


def test_single_kernel_1x1_uses_the_centre_tap_only():
    supernet = SuperNet("A0", single_kernel=True, stem_channels=STEM)
    supernet.train()
    supernet(torch.randn(4, 3, 32, 32), TRUNCATING).sum().backward()
    grad = supernet.cells[0].vertices[1].conv3x3.conv.weight.grad  # vertex 2 is a conv1x1
    assert grad[:5, :5, 1, 1].abs().sum() > 0
    centre = torch.zeros_like(grad, dtype=torch.bool)
    centre[:, :, 1, 1] = True
    assert grad[~centre].abs().sum() == 0


@pytest.mark.parametrize("space", ["A4", "A0"])
def test_folded_batch_norm_channels_last_and_bf16_give_the_fp32_logits(space):
    """Inference speed-ups keep the logits: BN folding and channels-last to 1e-5, bf16 autocast to 0.1 (logits ~1)."""
    supernet = SuperNet(space, stem_channels=STEM)
    randomise(supernet, seed=5)
    supernet.eval()
    images = torch.randn(16, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    cells = random_cells(space, 3, seed=7)
    with torch.no_grad():
        supernet.set_batch_norm_folding(False)
        reference = [supernet(images, c) for c in cells]
        supernet.set_batch_norm_folding(True)
        folded = [supernet(images, c) for c in cells]
        supernet.to(memory_format=torch.channels_last)
        channels_last = [supernet(images.contiguous(memory_format=torch.channels_last), c) for c in cells]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = [supernet(images.contiguous(memory_format=torch.channels_last), c).float() for c in cells]
    for expected, a, b, c in zip(reference, folded, channels_last, bf16):
        torch.testing.assert_close(a, expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(b, expected, rtol=0, atol=1e-5)
        torch.testing.assert_close(c, expected, rtol=0, atol=0.1)
        assert not torch.equal(c, expected)  # bf16 really ran in lower precision


def _running_statistics(supernet: SuperNet, second: bool = False) -> torch.Tensor:
    prefix = "second_" if second else ""
    return torch.cat([torch.cat([getattr(norm, f"{prefix}running_mean"), getattr(norm, f"{prefix}running_var")])
                      for norm in supernet.batch_norms()])


def test_bf16_training_accumulates_the_running_statistics_an_fp32_replay_gives():
    """NO-FT reads the running statistics; under bf16 autocast they are accumulated in fp32 from the bf16
    activations, so they differ from an fp32 replay of the same batches only by the convolutions' rounding."""
    torch.manual_seed(0)
    trained = SuperNet("A4", stem_channels=8, cells_per_stack=1, bn_momentum=0.997, second_bn_momentum=0.003).train()
    replay = SuperNet("A4", stem_channels=8, cells_per_stack=1, bn_momentum=0.997, second_bn_momentum=0.003).train()
    replay.load_state_dict(trained.state_dict())
    cells = random_cells("A4", 6, seed=3)
    with torch.no_grad():
        for step, each in enumerate(cells):
            images = torch.randn(64, 3, 32, 32, generator=torch.Generator().manual_seed(step))
            with torch.autocast("cpu", dtype=torch.bfloat16):
                trained(images, each)
            replay(images, each)
    for second in (False, True):
        bf16, fp32 = _running_statistics(trained, second), _running_statistics(replay, second)
        assert bf16.dtype == torch.float32
        torch.testing.assert_close(bf16, fp32, rtol=3e-2, atol=3e-2)
        assert (bf16 - fp32).abs().median() < 1e-2 * fp32.abs().median()  # bf16 rounding, not a drift


def test_swapping_the_statistics_twice_restores_them_and_bns_ft_leaves_the_second_set_alone():
    from wsnas.evaluate import fine_tuned_statistics

    torch.manual_seed(0)
    supernet = SuperNet("A4", stem_channels=8, cells_per_stack=1, bn_momentum=0.997, second_bn_momentum=0.003).train()
    one = random_cells("A4", 1, seed=5)[0]
    with torch.no_grad():
        for step in range(3):
            supernet(torch.randn(32, 3, 32, 32), one)
    first, second = _running_statistics(supernet), _running_statistics(supernet, second=True)
    assert not torch.equal(first, second)
    supernet.swap_statistics()
    assert torch.equal(_running_statistics(supernet), second) and torch.equal(_running_statistics(supernet, True), first)
    supernet.swap_statistics()
    batches = [(torch.randn(32, 3, 32, 32), torch.zeros(32, dtype=torch.long)) for _ in range(4)]
    with fine_tuned_statistics(supernet.eval(), one, batches, bn_statistics="last"):
        assert torch.equal(_running_statistics(supernet, second=True), second)
    assert torch.equal(_running_statistics(supernet), first) and torch.equal(_running_statistics(supernet, True), second)
    with pytest.raises(ValueError, match="keeps no second BN statistics"):
        SuperNet("A4", stem_channels=8).swap_statistics()


def test_a_replay_at_momentum_one_is_bns_ft_from_the_last_batch_and_leaves_the_statistics_as_they_were():
    from wsnas.evaluate import fine_tuned_statistics, replayed_statistics

    torch.manual_seed(0)
    supernet = SuperNet("A4", stem_channels=8, cells_per_stack=1, bn_momentum=0.997, second_bn_momentum=0.003).eval()
    one, other = random_cells("A4", 2, seed=7)
    batches = [(torch.randn(32, 3, 32, 32, generator=torch.Generator().manual_seed(k)), torch.zeros(32, dtype=torch.long))
               for k in range(3)]
    own, own_second = _running_statistics(supernet), _running_statistics(supernet, second=True)
    with fine_tuned_statistics(supernet, one, batches, num_bn_batches=3, bn_statistics="last"):
        bns_ft = _running_statistics(supernet)
    # Three replayed steps (other, other, one) at momentum 1: only the last step's statistics remain, for the norms
    # that step used; the norms only `other` uses keep what it left.
    with replayed_statistics(supernet, [other, other, one], batches, momentum=1.0):
        replayed = _running_statistics(supernet)
        assert not supernet.training
    used = bns_ft != torch.cat([torch.cat([torch.zeros_like(n.running_mean), torch.ones_like(n.running_var)])
                                for n in supernet.batch_norms()])
    assert used.any() and torch.equal(replayed[used], bns_ft[used])
    assert torch.equal(_running_statistics(supernet), own) and torch.equal(_running_statistics(supernet, True), own_second)
    with pytest.raises(ValueError, match="momentum must lie in"):
        with replayed_statistics(supernet, [one], batches, momentum=0.0):
            pass


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_max_pool3x3_equals_torchs_and_keeps_its_gradient(dtype, layout):
    from torch.nn import functional as F

    from wsnas.supernet import max_pool3x3

    torch.manual_seed(0)
    x = torch.relu(torch.randn(6, 5, 9, 7)).round().to(dtype).contiguous(memory_format=layout)  # zeros: many ties
    x[0, 0, 0, 0] = -3.0  # a negative corner: the -inf padding must never win
    with torch.no_grad():
        assert torch.equal(max_pool3x3(x), F.max_pool2d(x, 3, 1, 1))
    with torch.inference_mode():
        assert torch.equal(max_pool3x3(x), F.max_pool2d(x, 3, 1, 1))
    trained, reference = x.clone().requires_grad_(), x.clone().requires_grad_()
    gradient = torch.randn(6, 5, 9, 7).to(dtype)
    max_pool3x3(trained).backward(gradient)
    F.max_pool2d(reference, 3, 1, 1).backward(gradient)
    assert torch.equal(trained.grad, reference.grad)  # in training it is torch's op, gradient rule included


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_max_pool2x2_equals_torchs(layout):
    from torch.nn import functional as F

    from wsnas.supernet import max_pool2x2

    x = torch.relu(torch.randn(4, 3, 8, 6)).round().contiguous(memory_format=layout)
    with torch.inference_mode():
        assert torch.equal(max_pool2x2(x), F.max_pool2d(x, 2, 2))
        odd = torch.randn(2, 3, 7, 7)
        assert torch.equal(max_pool2x2(odd), F.max_pool2d(odd, 2, 2))  # odd sizes: torch's op, which floors


@pytest.mark.parametrize("space", ["A0", "A4"])
def test_reusing_what_the_first_cell_computes_from_its_input_gives_the_same_logits_bit_for_bit(space):
    """NO-FT's SharedInput: cells run on one stem output, sharing projections and vertices fed by the input alone,
    give exactly the logits they give alone, whatever the budget (0 keeps nothing, a small one evicts)."""
    supernet = SuperNet(space, stem_channels=STEM)
    randomise(supernet, seed=8)
    supernet.eval()
    images = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(9))
    cells = random_cells(space, 6, seed=10)
    cells += cells[:3] + (SPECIAL_CELLS if space == "A0" else [])
    with torch.no_grad():
        stem = supernet.stem_activation(supernet.stem_convolution(images))
        alone = [supernet.after_stem(stem, c) for c in cells]
        one_map = 8 * vertex_width(space, STEM) * 32 * 32 * 4  # bytes of one vertex output of the first cell
        for budget in (1 << 30, 3 * one_map, 0):
            shared = SharedInput(stem, budget)
            for c, expected in zip(cells, alone):
                assert torch.equal(supernet.after_stem(stem, c, shared), expected), (budget, c.hash)
            assert len(shared) == 0 if budget == 0 else len(shared) > 0
            assert shared._bytes <= budget
        with pytest.raises(ValueError, match="SharedInput serves only"):
            supernet.after_stem(stem.clone(), cells[0], shared)
        supernet.train()
        with pytest.raises(ValueError, match="SharedInput serves only"):
            supernet.after_stem(stem, cells[0], SharedInput(stem, 1 << 30))
