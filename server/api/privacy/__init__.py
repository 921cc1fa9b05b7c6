"""Privacy in GraphQL: subscription lists, the subscription centre, export and erasure: types,
inputs and resolvers. May import services and the rest of api/."""
