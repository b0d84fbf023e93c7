"""Pages (organizations): the member's roles on them (`/rest/organizationAcls`), a page's
profile (`/rest/organizations/{id}`) and its posts' numbers
(`organizationalEntityShareStatistics`, versioned and legacy).

- organizationAcls `q=roleAssignee` lists the signed-in member's APPROVED roles, optionally
  filtered by `role` and `state`: learn.microsoft.com/linkedin/marketing/community-management/
  organizations/organization-access-control-by-role. The fake wants rw_organization_admin or
  one of the organization social scopes to list them.
- organizationalEntityShareStatistics needs rw_organization_admin and the ADMINISTRATOR role
  on the page, and answers per post with `shares=List(...)` / `ugcPosts=List(...)`:
  …/community-management/organizations/share-statistics.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from t21.sandbox.linkedin.state import LinkedInState, Organization, analytics_of
from t21.sandbox.linkedin.wire import access_denied, bad_request, refusal
from t21.sandbox.oauth import ControlError, control_body, optional

ACL_SCOPES = ("rw_organization_admin", "r_organization_admin")
ADMIN_SCOPE = "rw_organization_admin"
ROLES = frozenset(
    {"ADMINISTRATOR", "CONTENT_ADMINISTRATOR", "DIRECT_SPONSORED_CONTENT_POSTER"}
    | {"RECRUITING_POSTER", "LEAD_GEN_FORMS_MANAGER", "LEAD_CAPTURE_ADMINISTRATOR"}
    | {"ANALYST", "CURATOR"}
)
PAGING = {"start": 0, "count": 10, "links": []}
POST_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")


def organization_routes(state: LinkedInState) -> list[Route]:
    async def acls(request: Request) -> Response:
        state.rest(request, ACL_SCOPES, "organizationAcls.FINDER-roleAssignee")
        query = request.query_params
        if query.get("q") != "roleAssignee":
            raise bad_request("Unsupported finder: use q=roleAssignee.")
        role, wanted_state = query.get("role"), query.get("state", "APPROVED")
        member = state.member.urn
        elements = [
            {"roleAssignee": member, "state": "APPROVED", "role": held,
             "organization": organization.urn}
            for organization in state.organizations.values()
            if (held := organization.role_of(member)) is not None
            and (role is None or held == role) and wanted_state == "APPROVED"
        ]  # fmt: skip
        paging = PAGING | {"total": len(elements)}
        return JSONResponse({"paging": paging, "elements": elements})

    async def organization(request: Request) -> Response:
        state.rest(request, ACL_SCOPES, "organizations.GET")
        page_id = str(request.path_params["id"])
        found = state.organizations.get(page_id)
        if found is None:
            raise refusal(404, f"urn:li:organization:{page_id} does not exist", "NOT_FOUND")
        if found.role_of(state.member.urn) is None:
            # Administrative fields are for the page's own people; the fake serves only them.
            raise access_denied("Not enough permissions to access: organizations.GET")
        return JSONResponse(
            {"id": int(found.id), "localizedName": found.name, "vanityName": found.vanity_name,
             "name": {"localized": {"en_US": found.name},
                      "preferredLocale": {"country": "US", "language": "en"}}}
        )  # fmt: skip

    def statistics(request: Request) -> Response:
        query = request.query_params
        if query.get("q") != "organizationalEntity":
            raise bad_request("Unsupported finder: use q=organizationalEntity.")
        page = state.organization_of(query.get("organizationalEntity"))
        if page is None or page.role_of(state.member.urn) != "ADMINISTRATOR":
            raise access_denied("Not enough permissions to access this organization")
        listed = unquote(query.get("shares", "") + query.get("ugcPosts", ""))
        elements = []
        for urn in POST_URN.findall(listed):
            post = state.posts.get(urn)
            if post is None or post.author != page.urn:
                raise access_denied(f"Unpermitted fields present in PARAMETER: {urn}")
            numbers = analytics_of(state, post)
            counts: dict[str, float] = {
                "impressionCount": numbers.get("IMPRESSION", 0),
                "uniqueImpressionsCount": numbers.get("MEMBERS_REACHED", 0),
                "likeCount": numbers.get("REACTION", 0),
                "commentCount": numbers.get("COMMENT", 0),
                "shareCount": numbers.get("RESHARE", 0),
                "clickCount": 0,
            }
            impressions = counts["impressionCount"]
            engaged = sum(
                counts[k] for k in ("likeCount", "commentCount", "shareCount", "clickCount")
            )
            counts["engagement"] = engaged / impressions if impressions else 0.0
            kind = "ugcPost" if ":ugcPost:" in urn else "share"
            elements.append(
                {"organizationalEntity": page.urn, kind: urn, "totalShareStatistics": counts}
            )
        return JSONResponse({"paging": PAGING, "elements": elements})

    async def rest_statistics(request: Request) -> Response:
        state.rest(request, ADMIN_SCOPE, "organizationalEntityShareStatistics.FINDER")
        return statistics(request)

    async def legacy_statistics(request: Request) -> Response:
        state.authenticate(request, ADMIN_SCOPE, "organizationalEntityShareStatistics")
        return statistics(request)

    async def control(request: Request) -> Response:
        """`{id, name?, vanity_name?, role?}`: a page, and the member's role on it (null: none)."""
        body = await control_body(request)
        page_id = optional(body, "id", str)
        if not page_id or not page_id.isdigit():
            raise ControlError("`id` must be the page's numeric id, as a string.")
        page = state.organizations.get(page_id) or Organization(page_id, f"Page {page_id}", "")
        page.name = optional(body, "name", str) or page.name
        page.vanity_name = optional(body, "vanity_name", str) or page.vanity_name or page_id
        if "role" in body:
            role: Any = body["role"]
            if role is None:
                page.roles.pop(state.member.urn, None)
            elif role in ROLES:
                page.roles[state.member.urn] = role
            else:
                raise ControlError(f"`role` must be null or one of {sorted(ROLES)}.")
        state.organizations[page_id] = page
        return JSONResponse({"id": page.id, "urn": page.urn, "roles": page.roles})

    return [
        Route("/rest/organizationAcls", acls, methods=["GET"]),
        Route("/rest/organizations/{id:int}", organization, methods=["GET"]),
        Route("/rest/organizationalEntityShareStatistics", rest_statistics, methods=["GET"]),
        Route("/v2/organizationalEntityShareStatistics", legacy_statistics, methods=["GET"]),
        Route("/_control/organizations", control, methods=["POST"]),
    ]
