using System.CommandLine;
using Contracts.CustomerPromotionLists;

namespace Publisher.CustomerPromotionLists;

/// <summary>
/// <c>customer-promotion-list update --id 123 --promotion-list-id 777 --customer-id 111</c>, or addressed by
/// references: <c>--customer-reference C-002 --promotion-list-reference PL-001</c> instead of <c>--id</c>.
/// </summary>
public static class CustomerPromotionListCommands
{
    public static Command Build()
    {
        var id = new Option<long?>("--id") { Description = "The assignment id" };
        var customerReference = new Option<string?>("--customer-reference") { Description = "Address the assignment by its customer's reference (with --promotion-list-reference)" };
        var listReference = new Option<string?>("--promotion-list-reference") { Description = "Address the assignment by its promotion list's reference (with --customer-reference)" };
        var promotionListId = new Option<long>("--promotion-list-id") { Description = "The promotion list to assign", Required = true };
        var customerId = new Option<long>("--customer-id") { Description = "The customer to assign", Required = true };

        var update = new Command("update", "Publish an update-customer-promotion-list command")
        {
            id, customerReference, listReference, promotionListId, customerId,
        };
        CommonOptions.AddTo(update);
        update.Validators.Add(result =>
        {
            var byId = result.GetValue(id) is not null;
            var byReference = result.GetValue(customerReference) is not null && result.GetValue(listReference) is not null;
            if (byId == byReference)
                result.AddError("give either --id, or both --customer-reference and --promotion-list-reference");
        });
        update.SetAction((parse, cancellationToken) =>
            CommonOptions.SendAsync(parse, UpdateCustomerPromotionList.Queue,
                correlationId => parse.GetValue(id) is { } assignment
                    ? UpdateCustomerPromotionList.ById(correlationId, assignment, parse.GetValue(promotionListId), parse.GetValue(customerId))
                    : UpdateCustomerPromotionList.ByReference(correlationId, parse.GetValue(customerReference)!,
                        parse.GetValue(listReference)!, parse.GetValue(promotionListId), parse.GetValue(customerId)),
                cancellationToken));

        return new Command("customer-promotion-list", "Valomnia customer promotion list assignments") { update };
    }
}
