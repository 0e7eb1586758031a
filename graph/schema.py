"""The Strawberry schema: Query, Mutation, and the limits that protect the server."""

import strawberry
from strawberry.extensions import (
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
)
from strawberry.tools import merge_types

from graph.errors import should_mask
from graph.mutations.account import AccountMutations
from graph.mutations.api_keys import ApiKeyMutations
from graph.mutations.approval import ApprovalMutations
from graph.mutations.audiences import AudienceMutations
from graph.mutations.campaigns import CampaignMutations
from graph.mutations.contacts import ContactMutations
from graph.mutations.email_channels import EmailChannelMutations
from graph.mutations.email_templates import EmailTemplateMutations
from graph.mutations.lifecycle import LifecycleMutations
from graph.mutations.ltv import LtvMutations
from graph.mutations.messaging import MessagingMutations
from graph.mutations.service import ServiceMutations
from graph.mutations.test_email import TestEmailMutations
from graph.mutations.twilio_channels import TwilioChannelMutations
from graph.query import Query
from graph.storable_text import StorableText
from graph.subscription import Subscription
from graph.types.account import Account
from graph.types.api_key import ApiKey
from graph.types.audience import Audience
from graph.types.campaign import Campaign
from graph.types.contact import Contact
from graph.types.email_channel import EmailChannel
from graph.types.email_template import EmailTemplate
from graph.types.twilio_channel import TwilioChannel

MAX_DEPTH = 10
# Large inputs (importContacts) belong in variables, which do not count as tokens.
MAX_TOKENS = 5_000
MAX_ALIASES = 20

Mutation = merge_types(
    "Mutation",
    (
        CampaignMutations,
        LifecycleMutations,
        TestEmailMutations,
        LtvMutations,
        ContactMutations,
        AudienceMutations,
        EmailChannelMutations,
        EmailTemplateMutations,
        TwilioChannelMutations,
        MessagingMutations,
        ServiceMutations,
        ApprovalMutations,
        AccountMutations,
        ApiKeyMutations,
    ),
)
Mutation.__strawberry_definition__.description = (  # type: ignore[attr-defined]
    "Changes. Business failures come back in each payload's `userErrors`."
)

schema = strawberry.Schema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[
        Account,
        ApiKey,
        Audience,
        Campaign,
        Contact,
        EmailChannel,
        EmailTemplate,
        TwilioChannel,
    ],
    extensions=[
        lambda: MaskErrors(should_mask_error=should_mask),
        StorableText,
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
    ],
)
