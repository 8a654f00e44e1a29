"""The Dataset panel on real data.load nodes: first rows, detected format, mapping, token lengths, and a
wrong dataset in the Problems panel before Run."""

from __future__ import annotations

import json
from pathlib import Path

from flowstudio.core.document import FlowDocument
from flowstudio.core.edits import SetParam
from flowstudio.core.flow import load_flow
from flowstudio.core.registry import default_registry
from flowstudio.ui.controller import DocumentController
from flowstudio.ui.panels.dataset_preview import DatasetPreviewPanel, connected_tokenizer
from flowstudio.ui.panels.problems import ProblemsPanel

REPO = Path(__file__).resolve().parents[3]


def _tokenizer_dir(tmp_path: Path) -> Path:
    """A model directory's tokenizer files, trained here with `tokenizers` (the tiny Llama's recipe, no torch)."""
    from flowstudio.nodes.hf.bpe import CHATML_TEMPLATE, DEFAULT_SPECIAL_TOKENS
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=list(DEFAULT_SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator((REPO / "assets" / "data" / "sft_chat.jsonl").read_text().splitlines(), trainer)
    out = tmp_path / "tok-model"
    out.mkdir()
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHATML_TEMPLATE,
                                                           "eos_token": "<|im_end|>"}))
    return out


def _sft_doc(tmp_path: Path, model_source: str | None = None) -> FlowDocument:
    flow = load_flow(REPO / "templates" / "sft_lora.flow.json")
    flow.node("model").params["source"] = model_source or str(_tokenizer_dir(tmp_path))
    path = tmp_path / "sft.flow.json"
    path.write_text(flow.to_json_text())
    return FlowDocument(load_flow(path), path, default_registry())


def _panel(qtbot, doc: FlowDocument) -> tuple[DatasetPreviewPanel, DocumentController]:
    controller = DocumentController(doc)
    panel = DatasetPreviewPanel(controller, delay_ms=10)
    qtbot.addWidget(panel)
    panel.show()
    return panel, controller


def _wait(qtbot, panel: DatasetPreviewPanel) -> dict:
    qtbot.waitUntil(lambda: not panel.busy and panel.preview is not None, timeout=30_000)
    return panel.preview


def test_the_tokenizer_is_found_downstream(tmp_path):
    doc = _sft_doc(tmp_path)
    source = doc.flow.node("model").params["source"]
    assert connected_tokenizer(doc.flow, doc.registry, "data") == source  # via split -> sft.model
    assert connected_tokenizer(doc.flow, doc.registry, "metrics") is None  # nothing downstream


def test_preview_of_the_sft_templates_data(qtbot, tmp_path):
    panel, _controller = _panel(qtbot, _sft_doc(tmp_path))
    panel.show_selection(["data"])
    result = _wait(qtbot, panel)
    assert result["error"] is None
    assert "Format: messages (detected)" in panel.info.text()
    assert "Column mapping: none needed" in panel.info.text()
    first = json.loads((REPO / "assets" / "data" / "sft_chat.jsonl").read_text().splitlines()[0])
    assert json.loads(panel.cell(0, "messages")) == first["messages"]
    assert panel.table.rowCount() == 20
    assert result["tokens"]["estimated"] is False
    assert panel.tokens_label.text() == f"Token lengths — tokens ({tmp_path / 'tok-model'}), first 200 rows"
    headers = [panel.stats.horizontalHeaderItem(i).text() for i in range(panel.stats.columnCount())]
    stats = result["tokens"]["stats"]
    assert panel.stats.item(0, headers.index("p95")).text() == f"{stats['p95']:.0f}"
    panel.show_selection(["sft"])  # not a data node
    assert panel.preview is None and panel.title.text().startswith("Select a Load data node")


def test_mapping_edits_refresh_the_preview_and_wrong_columns_reach_the_problems_panel(qtbot, tmp_path):
    data = tmp_path / "pairs.csv"
    data.write_text("question_text,reply\nWhat is 2+2?,4\nCapital of France?,Paris\n")
    doc = _sft_doc(tmp_path)
    doc.flow.node("data").params["source"] = "pairs.csv"
    panel, controller = _panel(qtbot, doc)
    problems = ProblemsPanel(controller, delay_ms=10)
    qtbot.addWidget(problems)
    problems.refresh()
    bad = [p for p in problems.problems if p.node_id == "data"]
    assert [p.code for p in bad] == ["bad_dataset"]
    assert "['question_text', 'reply'] fit no known dataset format" in bad[0].message
    panel.show_selection(["data"])
    result = _wait(qtbot, panel)
    assert "fit no known dataset format" in result["error"] and panel.error.text().startswith("✖")
    assert panel.cell(1, "reply") == "Paris"  # the rows are still shown, as they are
    controller.push(SetParam("data", "column_mapping", "question_text=question, reply=answer"))
    qtbot.waitUntil(lambda: panel.preview is not None and panel.preview.get("format") == "qa", timeout=30_000)
    assert "Column mapping applied: question_text → question, reply → answer" in panel.info.text()
    assert panel.cell(0, "answer") == "4"
    problems.refresh()
    assert not [p for p in problems.problems if p.node_id == "data"]
