"""The ACE-Step tasks; each prepares inputs for the shared loop (flow-edit owns its loop)."""
from .audio2audio import Audio2Audio
from .flow_edit import FlowEdit
from .repaint import Extend, Repaint
from .text2music import Retake, Text2Music

__all__ = ["Text2Music", "Retake", "Repaint", "Extend", "Audio2Audio", "FlowEdit"]
