"""The funnel in GraphQL: the lifecycle types (types) and the stage, hand-off and rescore
queries, mutations and subscription (resolvers). May import services and the rest of api/."""
