using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Publisher;
using Publisher.FrontDoor;
using Worker.IntegrationTests.Infrastructure;
using Xunit.Abstractions;

namespace Worker.IntegrationTests.FrontDoor;

/// <summary>
/// Front doors behind a load balancer: each instance sends its commands with direct reply-to, so it receives the
/// answers to its own requests and no one else's, however many instances run.
/// </summary>
[Collection(WorkerCollection.Name)]
public sealed class ScaleOutTests(WorkerFixture fixture, ITestOutputHelper output) : IAsyncLifetime
{
    const int Instances = 3;
    readonly List<WebApplication> _frontDoors = [];

    public async Task InitializeAsync()
    {
        await fixture.ResetAsync();
        for (var i = 0; i < Instances; i++)
        {
            var frontDoor = await FrontDoorApp.BuildAsync(["http://127.0.0.1:0"],
                Hosting.BrokerConnection.From(new Microsoft.Extensions.Configuration.ConfigurationBuilder().Build(), false,
                    fixture.Services.RabbitMq), environment: "Development");
            await frontDoor.StartAsync();
            _frontDoors.Add(frontDoor);
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var frontDoor in _frontDoors)
        {
            await frontDoor.StopAsync();
            await frontDoor.DisposeAsync();
        }
    }

    [Fact]
    public async Task Three_instances_under_load_each_receive_only_the_answers_to_their_own_requests()
    {
        // Unequal shares, so that an instance receiving another's answers could not come out right by chance.
        int[] shares = [90, 60, 30];
        var sent = await Task.WhenAll(_frontDoors.Select((frontDoor, i) => SendAllAsync(frontDoor, i, shares[i])));

        for (var i = 0; i < Instances; i++)
        {
            var received = _frontDoors[i].Services.GetRequiredService<PublisherBus>().AnswersReceived;
            output.WriteLine($"instance {i}: sent {shares[i]}, answered 200: {sent[i]}, answers received: {received}");
            Assert.Equal(shares[i], sent[i]);
            Assert.Equal(shares[i], received);
        }
    }

    /// <summary>Sends <paramref name="count"/> lead-segment updates, 10 at a time; returns how many were answered 200.</summary>
    static async Task<int> SendAllAsync(WebApplication frontDoor, int instance, int count)
    {
        using var http = new HttpClient { BaseAddress = new Uri(frontDoor.Urls.First()) };
        var ok = 0;
        using var gate = new SemaphoreSlim(10);
        await Task.WhenAll(Enumerable.Range(0, count).Select(async n =>
        {
            await gate.WaitAsync();
            try
            {
                var request = new HttpRequestMessage(HttpMethod.Patch, "/enterprises/acme/lead-segments/1234")
                {
                    Content = new StringContent($$"""{"description": "instance {{instance}} request {{n}}"}""", Encoding.UTF8),
                };
                request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse("application/json");
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", FrontDoorScenario.SeedJwt);
                using var response = await http.SendAsync(request);
                if ((int)response.StatusCode == 200) Interlocked.Increment(ref ok);
            }
            finally
            {
                gate.Release();
            }
        }));
        return ok;
    }
}
