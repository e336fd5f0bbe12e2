"""The README's "From Python" example runs as written (it once failed: 'module' object is not callable)."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_python_example_runs(capsys):
    block = re.search(r"<!-- python-example -->\n```python\n(.*?)```", README.read_text(), re.S)
    assert block, "README.md lost its python-example block"
    exec(compile(block.group(1), "README.md", "exec"), {"__name__": "readme_example"})
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Accuracy(top1=") and out[0].endswith("n=256)")
    macs, rows = out[1].split(" ", 1)
    assert int(macs) > 1_000_000 and "('torch', 1," in rows
    chain, gains = out[2].split(": ", 1)
    assert chain.startswith("prune.structured(") and chain.endswith("quant.static(calibration_samples=64)")
    assert float(gains.split("x fewer MACs")[0]) >= 2.0 and "model.onnx, top-1" in gains
