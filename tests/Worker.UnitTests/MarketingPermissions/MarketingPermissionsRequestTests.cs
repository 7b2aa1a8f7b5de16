using System.Text.Json;
using Contracts.MarketingPermissions;
using Worker.MarketingPermissions;

namespace Worker.UnitTests.MarketingPermissions;

public sealed class MarketingPermissionsRequestTests
{
    static (MarketingPermissionsRequest? Request, PaywayError? Error) Read(string body, string? correlationId = "c-1") =>
        MarketingPermissionsRequest.Read(new UpdateMarketingPermissions
        {
            CorrelationId = correlationId, Body = JsonDocument.Parse(body).RootElement,
        });

    [Fact]
    public void A_valid_request_is_read_with_the_account_id_lowercased()
    {
        var (request, error) = Read("""{"account_id": "585A4768EDCE2C5E6F000001", "marketing_permissions": [{"id": "a", "enabled": true}, {"id": "b", "enabled": false}]}""");

        Assert.Null(error);
        Assert.Equal("585a4768edce2c5e6f000001", request!.AccountId);
        Assert.Equal([("a", true), ("b", false)], request.Permissions.Select(p => (p.Id, p.Enabled)));
    }

    [Theory]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "a", "enabled": true}], "x": 1}""", "x")]
    [InlineData("""{"x": 1}""", "x")]
    [InlineData("""{"account_id": "bad", "marketing_permissions": [{"id": "a", "enabled": true, "why": "?"}]}""", "marketing_permissions[0].why")]
    public void Unknown_parameters_come_first_and_are_named(string body, string field)
    {
        var (_, error) = Read(body);

        Assert.Equal(PaywayErrors.UnknownParameter, error!.Code);
        Assert.Equal(400, error.Status);
        Assert.Equal(field, error.Field);
    }

    [Theory]
    [InlineData("""{"account_id": "585a4768edce2c5e6f00000", "marketing_permissions": [{"id": "a", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f0000011", "marketing_permissions": [{"id": "a", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001\n", "marketing_permissions": [{"id": "a", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": null, "marketing_permissions": [{"id": "a", "enabled": true}]}""", "account_id")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": null}""", "marketing_permissions")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": []}""", "marketing_permissions")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "a", "enabled": "false"}]}""", "marketing_permissions[0].enabled")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "a", "enabled": 0}]}""", "marketing_permissions[0].enabled")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "a", "enabled": null}]}""", "marketing_permissions[0].enabled")]
    [InlineData("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "a", "enabled": true}, {"id": "b", "enabled": true}, {"id": "a", "enabled": false}]}""", "marketing_permissions[2].id")]
    [InlineData("""[]""", "body")]
    public void Broken_parameters_are_invalid_parameters_naming_the_field(string body, string field)
    {
        var (request, error) = Read(body);

        Assert.Null(request);
        Assert.Equal(PaywayErrors.InvalidParameter, error!.Code);
        Assert.Equal(field, error.Field);
    }

    [Fact]
    public void A_missing_correlation_id_is_an_invalid_parameter()
    {
        Assert.Equal("correlationId", Read("""{"account_id": "585a4768edce2c5e6f000001", "marketing_permissions": [{"id": "a", "enabled": true}]}""", null).Error!.Field);
    }

    [Fact]
    public void The_error_body_has_code_message_and_field_only_where_there_is_one()
    {
        Assert.Equal("""{"code":"invalid_parameter","message":"Validation error on field account_id: x","field":"account_id"}""",
            PaywayErrors.Invalid("account_id", "x").Body().GetRawText());
        Assert.Equal("""{"code":"json_parser_error","message":"Invalid json in request body"}""",
            PaywayErrors.InvalidJson.Body().GetRawText());
    }
}
