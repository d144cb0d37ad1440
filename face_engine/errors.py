"""Errors with meaning. The web layer maps each class to an HTTP status once."""

from __future__ import annotations


class FaceEngineError(Exception):
    """Base of every error the engine raises on purpose."""

    code = "face_engine_error"
    message = "face engine error"

    def __init__(self, detail: str | None = None) -> None:
        self.detail = detail or self.message
        super().__init__(self.detail)


class ImageDecodeError(FaceEngineError):
    code = "bad_image"
    message = "the data is not an image that can be decoded"


class NoFaceFound(FaceEngineError):
    code = "no_face"
    message = "no face was found in the image"


class MultipleFaces(FaceEngineError):
    code = "multiple_faces"
    message = "more than one face of similar size is in the image"


class TooManyFaces(FaceEngineError):
    """More faces in one frame than a login ever needs: refused before any further work."""

    code = "too_many_faces"
    message = "too many faces are in the image; only one person may be in view"


class UnknownUser(FaceEngineError):
    code = "unknown_user"
    message = "no such user"


class UsernameTaken(FaceEngineError):
    code = "username_taken"
    message = "that username is already registered"


class InvalidUsername(FaceEngineError):
    code = "invalid_username"
    message = (
        "usernames are 1 to 64 characters: letters a-z, digits, '.', '_' or '-' "
        "(letters of other alphabets that look like these are not accepted)"
    )


class FaceAlreadyRegistered(FaceEngineError):
    code = "face_already_registered"
    message = "this face already belongs to an account"


class NotRecognized(FaceEngineError):
    code = "not_recognized"
    message = "the face was not recognised"


class FacesDiffer(FaceEngineError):
    code = "faces_differ"
    message = "the images do not all show the same person"


class StoreOutdated(FaceEngineError):
    code = "store_outdated"
    message = "the data directory was written by an incompatible version"


class StoreUnavailable(FaceEngineError):
    """The store's database cannot be reached (PostgreSQL down, a wrong DSN)."""

    code = "store_unavailable"
    message = "the account database cannot be reached; try again shortly"


class ModelMismatch(FaceEngineError):
    code = "model_mismatch"
    message = "the stored faces were made by another model than the configured one"


class ChallengeRequired(FaceEngineError):
    code = "challenge_required"
    message = "ask for a head-turn challenge (POST /api/challenge) and send it with the frames"


class ChallengeInvalid(FaceEngineError):
    code = "challenge_invalid"
    message = "this challenge is unknown, used, expired or another client's: ask for a new one"


class UsernameRequired(FaceEngineError):
    """The face is close to one user but, with this many people enrolled, not close enough to
    know who without a name: send ``pending`` with the username (1:1, the same frames)."""

    code = "username_required"
    message = "type your username to finish logging in"

    def __init__(self, pending: str, expires_in: int, detail: str | None = None) -> None:
        super().__init__(detail)
        self.pending = pending
        self.expires_in = expires_in


class PendingLoginInvalid(FaceEngineError):
    code = "pending_login_invalid"
    message = "this login is unknown, used, expired or another client's: log in again"


class LivenessFailed(FaceEngineError):
    """The frames did not show one live person turning as asked; ``reason`` is a short code."""

    code = "liveness_failed"
    message = "we could not confirm a live person turning their head"

    def __init__(self, detail: str | None = None, reason: str = "") -> None:
        super().__init__(detail)
        self.reason = reason


class InvalidClient(FaceEngineError):
    code = "invalid_client_metadata"
    message = "the application's registration is not valid"


class UnknownClient(FaceEngineError):
    code = "unknown_client"
    message = "no application is registered under that client id"


class ClientExists(FaceEngineError):
    code = "client_exists"
    message = "an application is already registered under that client id"
