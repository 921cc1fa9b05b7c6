"""GraphQL documents shared by the capture tests."""

SUBMIT = """
mutation($input: SubmitFormInput!) {
  submitForm(input: $input) {
    __typename
    ... on CapturePayload {
      contactCreated leadCreated replayed
      contact { id email firstName lastName marketingOnly
        preferences { allowBulkEmail allowPrefill allowEmail }
        consent { level }
        subscriptions
        insights { total lastActivityAt counts { type count } } }
      lead { id formId email stage parentContact { id } }
      interaction { id type formId }
      contactMatch { strategy kind fields values matched created rulesVersion }
      leadMatch { strategy kind fields values matched created rulesVersion }
    }
    ... on ValidationError { message fields { field message } }
    ... on ForbiddenError { message }
    ... on ConflictError { message }
  }
}
"""

REGISTER = """
mutation($input: RegisterForEventInput!) {
  registerForEvent(input: $input) {
    __typename
    ... on CapturePayload {
      contactCreated leadCreated
      contact { id insights { total counts { type count } } }
      lead { id formId marketingContext { kind name } }
      interaction { type eventId }
    }
    ... on ValidationError { message fields { field message } }
  }
}
"""


async def submit(api, form_id, fields, role="admin", **extra):
    data = await api.gql(
        SUBMIT, {"input": {"formId": form_id, "fields": fields, **extra}}, role=role
    )
    return data["submitForm"]
