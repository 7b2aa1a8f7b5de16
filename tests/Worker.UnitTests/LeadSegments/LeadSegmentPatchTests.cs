using System.Text.Json;
using Contracts.LeadSegments;
using Worker.LeadSegments;

namespace Worker.UnitTests.LeadSegments;

public sealed class LeadSegmentPatchTests
{
    static (LeadSegmentPatch? Patch, IReadOnlyList<ErrorItem> Errors) Read(string body,
        string? correlationId = "c-1", string? enterprise = "acme", string? id = "1234") =>
        LeadSegmentPatch.Read(new UpdateLeadSegment
        {
            CorrelationId = correlationId, Enterprise = enterprise, Id = id,
            Body = JsonDocument.Parse(body).RootElement,
        });

    static string FieldOf(ErrorItem error) => error.Arguments!["field"]!.GetValue<string>();

    [Fact]
    public void An_absent_field_is_left_out_of_the_patch()
    {
        var (patch, errors) = Read("""{"code": "NEW"}""");

        Assert.Empty(errors);
        Assert.Equal("NEW", patch!.Code.Value);
        Assert.False(patch.Description.IsPresent);
        Assert.False(patch.EarliestCallbackHours.IsPresent);
        Assert.False(patch.LatestCallbackHours.IsPresent);
    }

    [Fact]
    public void A_null_description_is_present_and_null()
    {
        var (patch, _) = Read("""{"description": null}""");

        Assert.True(patch!.Description.IsPresent);
        Assert.Null(patch.Description.Value);
    }

    [Theory]
    [InlineData("""{"code": null}""", "code")]
    [InlineData("""{"code": ""}""", "code")]
    [InlineData("""{"code": true}""", "code")]
    [InlineData("""{"description": ""}""", "description")]
    [InlineData("""{"description": 1}""", "description")]
    [InlineData("""{"earliestCallbackHours": -1}""", "earliestCallbackHours")]
    [InlineData("""{"earliestCallbackHours": 1.5}""", "earliestCallbackHours")]
    [InlineData("""{"earliestCallbackHours": 3000000000}""", "earliestCallbackHours")]
    [InlineData("""{"latestCallbackHours": "8"}""", "latestCallbackHours")]
    [InlineData("""{"latestCallbackHours": {}}""", "latestCallbackHours")]
    [InlineData("""null""", "body")]
    [InlineData("\"text\"", "body")]
    public void A_broken_field_is_a_validation_error_naming_it(string body, string field)
    {
        var (patch, errors) = Read(body);

        Assert.Null(patch);
        var error = Assert.Single(errors);
        Assert.Equal(LeadSegmentErrors.ValidationError, error.Code);
        Assert.Equal("400", error.StatusCode);
        Assert.Equal(field, FieldOf(error));
    }

    [Theory]
    [InlineData(null, "acme", "1234", "correlationId")]
    [InlineData("c", "", "1234", "enterprise")]
    [InlineData("c", "acme", null, "id")]
    public void Correlation_id_enterprise_and_id_are_required(string? correlationId, string? enterprise, string? id, string field)
    {
        var (_, errors) = Read("""{"code": "X"}""", correlationId, enterprise, id);

        Assert.Equal(field, FieldOf(Assert.Single(errors)));
    }

    [Fact]
    public void Code_length_counts_characters_not_utf16_units()
    {
        // 255 emoji are 510 UTF-16 units but 255 characters.
        var code = string.Concat(Enumerable.Repeat("😀", 255));
        Assert.Empty(Read(JsonSerializer.Serialize(new { code })).Errors);
        Assert.Single(Read(JsonSerializer.Serialize(new { code = code + "x" })).Errors);
    }

    [Fact]
    public void Unknown_fields_are_ignored_as_the_documented_api_defines_no_error_for_them()
    {
        var (patch, errors) = Read("""{"code": "X", "color": "blue"}""");

        Assert.Empty(errors);
        Assert.Equal("X", patch!.Code.Value);
    }
}
