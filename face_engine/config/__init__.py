"""Configuration: ``config.ini`` -> frozen dataclasses -> constructors.

``sections`` holds one dataclass per section (and ``Settings``); ``loading`` parses the file
once, applies the environment and refuses unknown keys. Both are re-exported here.
"""

from face_engine.config.loading import (
    DEFAULT_CONFIG_PATH,
    ENV_ALIASES,
    ENV_PREFIX,
    ConfigError,
    ConfigSource,
    engine_sections,
    load_settings,
    read_config,
    settings_from,
)
from face_engine.config.sections import (
    AlignmentConfig,
    DataConfig,
    DecodeConfig,
    DetectorConfig,
    EmbedderConfig,
    EngineConfig,
    IndexConfig,
    LivenessConfig,
    MatchingConfig,
    ModelConfig,
    OidcConfig,
    Settings,
    StoreConfig,
)

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_ALIASES",
    "ENV_PREFIX",
    "AlignmentConfig",
    "ConfigError",
    "ConfigSource",
    "DataConfig",
    "DecodeConfig",
    "DetectorConfig",
    "EmbedderConfig",
    "EngineConfig",
    "IndexConfig",
    "LivenessConfig",
    "MatchingConfig",
    "ModelConfig",
    "OidcConfig",
    "Settings",
    "StoreConfig",
    "engine_sections",
    "load_settings",
    "read_config",
    "settings_from",
]
