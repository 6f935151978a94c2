"""The README's Python API example, run twice in one fresh process (tiny settings). `genzoo.report` and
`genzoo.evaluate` share their names with subpackages: once a call had imported `genzoo.report.*`, the name was
rebound to the package and the second call failed with "TypeError: 'module' object is not callable"."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import build_tiny_config

# The README's lines, with a tiny config, no sample-quality figures (the slow part, tested elsewhere) and no
# serve (it blocks). A fresh interpreter: the bug needs a process whose first `genzoo.report` call is the test's.
EXAMPLE = """
import json, sys
import genzoo

config = json.loads(sys.argv[1])
for attempt in (1, 2):
    run = f"runs/fashion-vae-{attempt}"
    result = genzoo.train(config, out=run, verbose=False)
    model = genzoo.load(run)
    images = genzoo.sample(model, n=16, seed=0)
    codes = model.encode(images)
    sections = genzoo.evaluate(run, quality=False, progress=False)
    table = genzoo.compare([run])
    page = genzoo.report([run], f"fashion-vae-{attempt}.html")
    print(json.dumps({"test": sorted(result.test), "images": list(images.shape), "codes": list(codes.shape),
                      "sections": sorted(sections), "table": isinstance(table, str), "page": page.is_file()}))
"""


def test_the_readme_api_example_works_twice_in_one_process(tmp_path):
    config = build_tiny_config("vae", data={"dataset": "fashion-mnist"})
    out = subprocess.run(
        [sys.executable, "-c", EXAMPLE, json.dumps(config)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-3000:]
    first, second = (json.loads(line) for line in out.stdout.splitlines()[-2:])
    assert first == second
    assert {"loss", "recon", "kl"} <= set(first["test"])
    assert first["images"] == [16, 1, 28, 28] and first["codes"] == [16, 4]
    assert first["sections"] == ["posterior"] and first["table"] and first["page"]
