using System.Text.Json;
using Contracts.CustomerPromotionLists;
using Worker.CustomerPromotionLists;

namespace Worker.UnitTests.CustomerPromotionLists;

public sealed class AssignmentRequestTests
{
    static (AssignmentRequest? Request, ValomniaError? Error) Read(string command) =>
        AssignmentRequest.Read(JsonSerializer.Deserialize<UpdateCustomerPromotionList>(command,
            new JsonSerializerOptions(JsonSerializerDefaults.Web))!);

    [Fact]
    public void The_id_form_is_read()
    {
        var (request, error) = Read("""{"correlationId": "c", "id": 123, "body": {"promotionListId": 777, "customerId": 111}}""");

        Assert.Null(error);
        Assert.Equal(new AssignmentRequest(new AssignmentAddress.ById(123), 777, 111), request);
    }

    [Fact]
    public void The_reference_form_is_read()
    {
        var (request, _) = Read("""{"correlationId": "c", "reference": {"customerId": "C-002", "promotionListId": "PL-001"}, "body": {"promotionListId": 777, "customerId": 111}}""");

        Assert.Equal(new AssignmentAddress.ByReference("C-002", "PL-001"), request!.Address);
    }

    [Theory]
    [InlineData("""{"correlationId": "c", "id": "1", "body": {"promotionListId": 1, "customerId": 1}}""", "id")]
    [InlineData("""{"correlationId": "c", "id": 1e3, "body": {"promotionListId": 1, "customerId": 1}}""", "id")]
    [InlineData("""{"correlationId": "c", "id": 1, "body": {"promotionListId": false, "customerId": 1}}""", "promotionListId")]
    [InlineData("""{"correlationId": "c", "id": 1, "body": {"promotionListId": 1, "customerId": 18446744073709551616}}""", "customerId")]
    [InlineData("""{"correlationId": "c", "id": 1, "body": {"promotionListId": 1, "customerId": [1]}}""", "customerId")]
    [InlineData("""{"correlationId": "c", "reference": {"customerId": "", "promotionListId": "PL"}, "body": {"promotionListId": 1, "customerId": 1}}""", "customerId")]
    [InlineData("""{"correlationId": "c", "reference": "C-002/PL-001", "body": {"promotionListId": 1, "customerId": 1}}""", "reference")]
    [InlineData("""{"correlationId": "c", "id": 1, "reference": {"customerId": "C", "promotionListId": "P"}, "body": {"promotionListId": 1, "customerId": 1}}""", "reference")]
    public void A_wrong_type_is_invalid_param_type_naming_the_parameter(string command, string parameter)
    {
        var (_, error) = Read(command);

        Assert.Equal(ValomniaErrors.InvalidParamType, error!.Error);
        Assert.Equal($"The type of parameter {parameter} you provided is not valid for this request.", error.Description);
    }

    [Theory]
    [InlineData("""{"correlationId": "c", "body": {"promotionListId": 1, "customerId": 1}}""", "id")]
    [InlineData("""{"correlationId": "c", "id": 1, "body": {"customerId": 1}}""", "promotionListId")]
    [InlineData("""{"correlationId": "c", "id": 1, "body": {"promotionListId": 1}}""", "customerId")]
    [InlineData("""{"id": 1, "body": {"promotionListId": 1, "customerId": 1}}""", "correlationId")]
    public void A_missing_parameter_is_missing_param(string command, string parameter)
    {
        Assert.Equal($"{parameter} parameter is missing", Read(command).Error!.Description);
    }
}
