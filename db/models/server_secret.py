from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base


class ServerSecret(Base):
    """Instance-wide secrets (e.g. the key that signs unsubscribe links), made on first use,
    so every API and worker process sharing the database agrees without configuration."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
