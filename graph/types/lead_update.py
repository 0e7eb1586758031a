import strawberry

from graph.types.lead import Lead


@strawberry.type(
    description="Leads of a campaign that changed (sent, not received, opted out, delivered, "
    "read, replied, ...), each as it is now: at most 100 per update."
)
class LeadUpdate:
    campaign_id: strawberry.ID = strawberry.field(description="The campaign's global ID.")
    leads: list[Lead] = strawberry.field(
        description="The leads that changed, in the order they were added; their state when "
        "this update was read (a later change comes in a later update)."
    )
