using System.Text.Json;
using Worker.CustomerPromotionLists;
using Worker.LeadSegments;
using Worker.MarketingPermissions;

namespace Publisher.FrontDoor;

/// <summary>
/// The answers the front door gives itself, before or instead of a result event, in each API's documented error
/// shape. Unreadable bodies are answered by the worker's own failure catalog (see <see cref="Operation"/>).
/// </summary>
public abstract class ApiErrors
{
    public abstract (int Status, JsonElement Body) Unauthenticated();
    public abstract (int Status, JsonElement Body) Forbidden(string needed);
    public abstract (int Status, JsonElement Body) TimedOut(TimeSpan waited);

    public static readonly ApiErrors Pexip = new PexipErrors();
    public static readonly ApiErrors Payway = new PaywayApiErrors();
    public static readonly ApiErrors Valomnia = new ValomniaApiErrors();

    sealed class PexipErrors : ApiErrors
    {
        public override (int, JsonElement) Unauthenticated() =>
            (401, LeadSegmentErrors.Body([new("A valid bearer token is required", "UNAUTHORIZED", "AUTHENTICATION", "401", null)]));

        public override (int, JsonElement) Forbidden(string needed) =>
            (403, LeadSegmentErrors.Body([new($"The token does not grant {needed}", "FORBIDDEN", "AUTHORIZATION", "403", null)]));

        public override (int, JsonElement) TimedOut(TimeSpan waited) =>
            (504, LeadSegmentErrors.Body([new($"No answer within {waited.TotalSeconds:0.#} s; the update may still be applied",
                "GATEWAY_TIMEOUT", "TIMEOUT", "504", null)]));
    }

    sealed class PaywayApiErrors : ApiErrors
    {
        public override (int, JsonElement) Unauthenticated() =>
            (401, new PaywayError(401, "unauthorized", "A valid bearer token is required").Body());

        public override (int, JsonElement) Forbidden(string needed) =>
            (403, new PaywayError(403, "forbidden", $"The token does not grant {needed}").Body());

        public override (int, JsonElement) TimedOut(TimeSpan waited) =>
            (504, new PaywayError(504, "gateway_timeout",
                $"No answer within {waited.TotalSeconds:0.#} s; the update may still be applied").Body());
    }

    // Valomnia's error shape is OAuth 2's, so its own codes are used for token problems.
    sealed class ValomniaApiErrors : ApiErrors
    {
        public override (int, JsonElement) Unauthenticated() =>
            (401, new ValomniaError(401, "invalid_token", "A valid bearer token is required").Body());

        public override (int, JsonElement) Forbidden(string needed) =>
            (403, new ValomniaError(403, "insufficient_scope", $"The token does not grant {needed}").Body());

        public override (int, JsonElement) TimedOut(TimeSpan waited) =>
            (504, new ValomniaError(504, "gateway_timeout",
                $"No answer within {waited.TotalSeconds:0.#} s; the update may still be applied").Body());
    }
}
