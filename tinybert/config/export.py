"""The configs of shipping a model: ONNX export (with int8 quantization) and batched prediction."""

from __future__ import annotations

from dataclasses import dataclass

from tinybert.config.base import check_choice, check_positive

QUANTIZE = ("int8",)
OUTPUT_FORMATS = ("jsonl", "tsv")


@dataclass
class ExportConfig:
    """Export the classifier in ``model_dir`` to ONNX in ``output`` (``model.onnx``, the tokenizer files and
    ``config.json`` beside it, ``export.json`` with the checks). ``quantize="int8"`` also writes
    ``model.int8.onnx`` (dynamic int8). With ``task_name`` and ``data_dir`` the dev metric of every variant is
    measured (the accuracy change of quantization); the generic task's column fields work as for the tasks.
    The export fails its check when the ONNX logits differ from PyTorch's by more than ``tolerance``."""

    model_dir: str
    output: str
    quantize: str | None = None
    task_name: str | None = None
    data_dir: str | None = None
    text_columns: str | None = None
    label_column: str | None = None
    labels: str | None = None
    max_seq_length: int = 128
    eval_batch_size: int = 32
    opset: int = 17
    tolerance: float = 1e-4
    threads: int = 0  # ONNX Runtime intra-op threads; 0: torch's thread count
    overwrite_output_dir: bool = False

    def __post_init__(self) -> None:
        if self.quantize is not None:
            check_choice("quantize", self.quantize, QUANTIZE)
        if (self.task_name is None) != (self.data_dir is None):
            from tinybert.errors import UserError

            raise UserError.of_field("task_name" if self.task_name is None else "data_dir",
                                     "is needed too: the dev metrics take both task_name and data_dir")
        check_positive("max_seq_length", self.max_seq_length)
        check_positive("eval_batch_size", self.eval_batch_size)
        check_positive("opset", self.opset)
        check_positive("tolerance", self.tolerance)
        check_positive("threads", self.threads, allow_zero=True)


@dataclass
class PredictConfig:
    """Predict with the classifier in ``model_dir`` (a PyTorch folder, or an ONNX folder from ``export``) on the
    rows of ``input`` (a TSV/CSV/JSONL file, a text file of lines, or ``-`` for standard input). Writes one record
    per input, in input order, with its id, label and probabilities, to ``output`` (``-``: standard output) as
    JSON lines or TSV. ``quantize="int8"``: the ONNX folder's ``model.int8.onnx``, or a PyTorch model quantized
    dynamically on load. Inputs run in batches of similar length."""

    model_dir: str
    input: str
    output: str = "-"
    input_format: str | None = None  # tsv | csv | jsonl | lines (default: from the extension; stdin: lines)
    output_format: str | None = None  # jsonl | tsv (default: from the extension; stdout: jsonl)
    text_columns: str | None = None  # one or two columns (indices or names); default 0, JSONL "text"
    id_column: str | None = None
    header: bool | None = None
    batch_size: int = 32
    max_seq_length: int = 128
    quantize: str | None = None
    threads: int = 0
    progress_bar: bool = True

    def __post_init__(self) -> None:
        if self.quantize is not None:
            check_choice("quantize", self.quantize, QUANTIZE)
        if self.output_format is not None:
            check_choice("output_format", self.output_format, OUTPUT_FORMATS)
        if self.header is False:  # a flag left off means "decide from the columns"
            self.header = None
        check_positive("batch_size", self.batch_size)
        check_positive("max_seq_length", self.max_seq_length)
        check_positive("threads", self.threads, allow_zero=True)
