"""Speech synthesis with espeak-ng: the `espeak-ng` program, or the library and voices bundled
in the `espeakng-loader` wheel. Each synthesizer turns an `Utterance` into (samples, rate).
"""

import ctypes
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from multimodal.errors import InputError

INSTALL_HINT = "apt-get install espeak-ng, or pip install espeakng-loader"


@dataclass(frozen=True)
class Utterance:
    """One clip to synthesize: its words, voice, speed (words per minute) and pitch (0-99)."""

    index: int
    text: str
    voice: str
    speed: int
    pitch: int

    @property
    def name(self) -> str:
        return f"{self.index:05d}.wav"


class EspeakProgram:
    """Synthesis through the `espeak-ng` command line (thread-safe: one process per clip)."""

    parallel = True

    def __init__(self, program: str):
        self.program = program

    def __call__(self, u: Utterance) -> tuple[np.ndarray, int]:
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "out.wav"
            args = ["-w", str(wav), "-v", u.voice, "-s", str(u.speed), "-p", str(u.pitch)]
            done = subprocess.run([self.program, *args, u.text], capture_output=True)
            if done.returncode != 0:
                raise InputError(f"espeak-ng failed on {u.text!r}: {done.stderr.decode().strip()}")
            data, rate = sf.read(wav, dtype="float32")
        return data, rate


class EspeakLibrary:
    """Synthesis through libespeak-ng from the `espeakng-loader` wheel (one clip at a time)."""

    parallel = False
    SYNCHRONOUS, POS_CHARACTER, RATE, PITCH = 2, 1, 1, 3  # espeak-ng API constants

    def __init__(self):
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        path = espeakng_loader.get_data_path().encode()
        self.rate = self.lib.espeak_Initialize(self.SYNCHRONOUS, 0, path, 0)
        if self.rate <= 0:
            raise InputError("libespeak-ng from espeakng-loader failed to initialize")
        self.chunks: list[np.ndarray] = []
        callback = ctypes.CFUNCTYPE(
            ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
        )
        self.callback = callback(self.collect)  # kept referenced while the library holds it
        self.lib.espeak_SetSynthCallback(self.callback)

    def collect(self, wav, n, events) -> int:
        if wav and n > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
        return 0

    def __call__(self, u: Utterance) -> tuple[np.ndarray, int]:
        self.chunks = []
        if self.lib.espeak_SetVoiceByName(u.voice.encode()) != 0:
            raise InputError(f"espeak-ng has no voice {u.voice!r}")
        self.lib.espeak_SetParameter(self.RATE, u.speed, 0)
        self.lib.espeak_SetParameter(self.PITCH, u.pitch, 0)
        text = u.text.encode()
        size = ctypes.c_size_t(len(text) + 1)
        self.lib.espeak_Synth(text, size, 0, self.POS_CHARACTER, 0, 0, None, None)
        self.lib.espeak_Synchronize()
        if not self.chunks:
            raise InputError(f"libespeak-ng produced no audio for {u.text!r}")
        return np.concatenate(self.chunks).astype(np.float32) / 32768.0, self.rate


def synthesizer(backend: str = "auto"):
    """ "program" (espeak-ng on PATH), "library" (espeakng-loader) or "auto" (the first found)."""
    program = shutil.which("espeak-ng")
    if backend in ("auto", "program") and program:
        return EspeakProgram(program)
    if backend in ("auto", "library"):
        try:
            return EspeakLibrary()
        except ImportError:
            pass
    raise InputError(f"speech synthesis needs espeak-ng ({INSTALL_HINT})")
