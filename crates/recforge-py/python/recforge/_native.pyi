"""Type stubs of the extension module (Rust, pyo3). Use the public API in ``recforge``."""

from typing import Any, Callable, Dict, List, Optional, Tuple

__version__: str

ProgressCallback = Callable[[str, str, int, Optional[int], str, str], None]

class RecforgeError(Exception): ...

def train(
    config_path: Optional[str] = None,
    config_json: Optional[str] = None,
    overrides: List[str] = ...,
    seed: Optional[int] = None,
    epochs: Optional[int] = None,
    out: Optional[str] = None,
    skip_bad_rows: bool = False,
    progress: Optional[ProgressCallback] = None,
) -> str: ...

class Model:
    def __init__(self, path: str) -> None: ...
    @property
    def name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def metadata_json(self) -> str: ...
    def predict_stream(
        self,
        stream: Any,
        total_rows: int,
        name: str,
        batch_size: Optional[int] = None,
        skip_bad_rows: bool = False,
        progress: Optional[ProgressCallback] = None,
    ) -> Dict[str, Any]: ...
    def predict_path(
        self,
        path: str,
        batch_size: Optional[int] = None,
        skip_bad_rows: bool = False,
        progress: Optional[ProgressCallback] = None,
    ) -> Dict[str, Any]: ...

def copy_model_folder(source: str, destination: str) -> None: ...
def inspect(path: str, schema: Optional[str] = None, max_rows: Optional[int] = None) -> str: ...
def prepare(
    schema: str, skip_bad_rows: bool = False, force: bool = False, progress: Optional[ProgressCallback] = None
) -> Dict[str, Any]: ...
def evaluate(
    reward: Any,
    action: Any,
    pscore: Any,
    action_dist: Any,
    n_actions: int,
    len_list: int,
    position: Any = None,
    estimated_rewards: Any = None,
    estimators: List[str] = ...,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> str: ...
def select(
    texts: List[str],
    sampler: str = "density",
    keep: float = 0.1,
    mode: Optional[str] = None,
    threshold: Optional[float] = None,
    cache: Optional[str] = None,
    llm: Optional[str] = None,
    encoder: Optional[str] = None,
    batch_size: int = 8,
    seed: int = 0,
    progress: Optional[ProgressCallback] = None,
) -> Tuple[List[int], List[float]]: ...

class Server:
    def __init__(
        self,
        config_path: Optional[str] = None,
        config_json: Optional[str] = None,
        overrides: List[str] = ...,
        ranker: Optional[str] = None,
        retrieval: Optional[str] = None,
        listen: str = "127.0.0.1:0",
        store: Optional[str] = None,
    ) -> None: ...
    @property
    def address(self) -> str: ...
    def stop(self) -> None: ...
