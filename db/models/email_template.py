from sqlalchemy import JSON, Boolean, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from db.models.base import Base, Owned


class EmailTemplate(Owned, Base):
    """Jinja2 subject and bodies; rendered per contact by the send pipeline."""

    __tablename__ = "email_templates"
    __table_args__ = (UniqueConstraint("account_id", "code"),)

    name: Mapped[str] = mapped_column(String(255))
    code: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(255))
    body_html: Mapped[str] = mapped_column(Text)
    body_text: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    is_base: Mapped[bool] = mapped_column(Boolean, default=False)
