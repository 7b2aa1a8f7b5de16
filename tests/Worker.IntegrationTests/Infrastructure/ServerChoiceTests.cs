using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace Worker.IntegrationTests.Infrastructure;

/// <summary>
/// Which servers the integration tests run against. No Docker engine runs on the machines this project is built on,
/// so the container path is chosen here only where it is forced; the detection is tested against a listener that
/// answers Docker's ping as the engine does.
/// </summary>
public sealed class ServerChoiceTests
{
    static Task<bool> Docker(bool answers) => Task.FromResult(answers);

    static Dictionary<string, string?> Environment(params (string Key, string? Value)[] values) =>
        values.ToDictionary(v => v.Key, v => v.Value);

    [Fact]
    public async Task Connection_strings_select_external_servers_whatever_else_is_set()
    {
        var (source, _) = await LocalServices.ChooseAsync(Environment(
            ("ConnectionStrings__RabbitMq", "amqp://guest:guest@127.0.0.1:5672/"),
            ("ConnectionStrings__Postgres", "Host=127.0.0.1"), (LocalServices.ChoiceVariable, "containers")), () => Docker(true));
        Assert.Equal(ServerSource.External, source);
    }

    [Fact]
    public async Task Only_one_connection_string_is_not_enough_for_external_servers()
    {
        var (source, _) = await LocalServices.ChooseAsync(Environment(("ConnectionStrings__RabbitMq", "amqp://x/")), () => Docker(false));
        Assert.Equal(ServerSource.Processes, source);
    }

    [Theory]
    [InlineData(true, ServerSource.Containers)]
    [InlineData(false, ServerSource.Processes)]
    public async Task Without_a_choice_a_Docker_engine_that_answers_means_Testcontainers(bool dockerAnswers, ServerSource expected)
    {
        var (source, why) = await LocalServices.ChooseAsync(Environment(), () => Docker(dockerAnswers));
        Assert.Equal(expected, source);
        Assert.Contains("Docker engine", why);
    }

    [Theory]
    [InlineData("containers", false, ServerSource.Containers)]
    [InlineData("processes", true, ServerSource.Processes)]
    [InlineData(" Processes ", true, ServerSource.Processes)]
    public async Task The_choice_variable_forces_one_source(string choice, bool dockerAnswers, ServerSource expected)
    {
        var (source, _) = await LocalServices.ChooseAsync(Environment((LocalServices.ChoiceVariable, choice)), () => Docker(dockerAnswers));
        Assert.Equal(expected, source);
    }

    [Fact]
    public async Task An_unknown_choice_is_refused_rather_than_guessed()
    {
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            LocalServices.ChooseAsync(Environment((LocalServices.ChoiceVariable, "docker")), () => Docker(true)));
    }

    [Fact]
    public async Task A_socket_that_answers_Dockers_ping_counts_as_an_engine_and_a_missing_one_does_not()
    {
        var socket = Path.Combine(Path.GetTempPath(), $"engine-{Guid.NewGuid():N}.sock");
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.ListenUnixSocket(socket));
        await using var engine = builder.Build();
        engine.MapGet("/_ping", () => Results.Text("OK"));
        await engine.StartAsync();
        try
        {
            Assert.True(await ServerContainers.DockerEngineAnswersAsync($"unix://{socket}", TimeSpan.FromSeconds(5)));
        }
        finally
        {
            await engine.StopAsync();
        }
        Assert.False(await ServerContainers.DockerEngineAnswersAsync($"unix://{socket}.missing", TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public void The_containers_run_the_images_docker_compose_runs()
    {
        var compose = File.ReadAllText(Path.Combine(LocalServices.RepositoryRoot(), "docker-compose.yml"));
        // The official images by default, which a variable may replace (docs/operations.md).
        Assert.Contains($"image: ${{RABBITMQ_IMAGE:-{ServerContainers.RabbitMqImage}}}\n", compose.ReplaceLineEndings("\n"));
        Assert.Contains($"image: ${{POSTGRES_IMAGE:-{ServerContainers.PostgresImage}}}\n", compose.ReplaceLineEndings("\n"));
    }

    [Fact]
    public async Task A_tcp_engine_address_where_nothing_listens_is_no_engine()
    {
        var port = LocalServices.FreePort();
        Assert.False(await ServerContainers.DockerEngineAnswersAsync($"tcp://127.0.0.1:{port}", TimeSpan.FromSeconds(2)));
    }

    [Fact]
    public async Task A_listener_that_answers_something_else_is_no_engine()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var answer = Task.Run(async () =>
        {
            using var client = await listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            _ = await stream.ReadAsync(new byte[4096]); // the request, whatever its length
            await stream.WriteAsync("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"u8.ToArray());
        });
        Assert.False(await ServerContainers.DockerEngineAnswersAsync($"tcp://127.0.0.1:{port}", TimeSpan.FromSeconds(5)));
        await answer;
    }
}
