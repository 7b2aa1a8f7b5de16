using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;
using Worker.Observability;

namespace Worker.IntegrationTests.Observability;

/// <summary>
/// Spans leave the process over OTLP only to the endpoint the operator set, and tracing and metrics can each be
/// switched off. Here an HTTP listener on loopback plays the operator's collector.
/// </summary>
public sealed class TelemetryExportTests
{
    static ServiceProvider Observability(Dictionary<string, string?> settings)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var services = new ServiceCollection();
        services.AddSingleton<IConfiguration>(configuration);
        services.AddLogging();
        services.AddObservability(configuration);
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task With_an_OTLP_endpoint_set_the_commands_spans_are_sent_there()
    {
        var port = FreePort();
        using var collector = new HttpListener();
        collector.Prefixes.Add($"http://127.0.0.1:{port}/");
        collector.Start();
        var received = new List<(string Path, byte[] Body)>();
        var receiving = Task.Run(async () =>
        {
            while (collector.IsListening)
            {
                HttpListenerContext request;
                try { request = await collector.GetContextAsync(); }
                catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException) { return; }
                using var body = new MemoryStream();
                await request.Request.InputStream.CopyToAsync(body);
                lock (received) received.Add((request.Request.Url!.AbsolutePath, body.ToArray()));
                request.Response.StatusCode = 200;
                request.Response.Close();
            }
        });

        await using var provider = Observability(new()
        {
            [ObservabilitySetup.OtlpEndpointSetting] = $"http://127.0.0.1:{port}",
            ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf",
        });
        var tracer = provider.GetRequiredService<TracerProvider>();
        ActivityTraceId trace;
        using (var span = CommandTracing.Source.StartActivity("update-lead-segment process", ActivityKind.Consumer))
        {
            Assert.NotNull(span);
            trace = span.TraceId;
        }
        Assert.True(tracer.ForceFlush(10_000));
        // Its result is not checked: it is false here, with the Prometheus reader beside the OTLP one. What arrived decides.
        provider.GetRequiredService<MeterProvider>().ForceFlush(10_000);
        collector.Stop();
        await receiving;

        // OTLP/protobuf carries the trace id as its 16 raw bytes.
        var traceBytes = new byte[16];
        trace.CopyTo(traceBytes);
        lock (received)
        {
            Assert.Contains(received, r => r.Path == "/v1/traces" && r.Body.AsSpan().IndexOf(traceBytes) >= 0);
            Assert.Contains(received, r => r.Path == "/v1/metrics");
        }
    }

    [Fact]
    public async Task Without_an_endpoint_nothing_is_sent_anywhere_though_spans_are_still_made()
    {
        // Where an OTLP exporter sends by default (gRPC and HTTP): nothing may arrive there.
        using var grpc = ListenOnDefault(4317);
        using var http = ListenOnDefault(4318);
        await using var provider = Observability([]);
        var tracer = provider.GetRequiredService<TracerProvider>();
        using (var span = CommandTracing.Source.StartActivity("update-lead-segment process", ActivityKind.Consumer))
        {
            Assert.NotNull(span);
            Assert.True(span.Recorded);
        }
        tracer.ForceFlush(2_000);
        provider.GetRequiredService<MeterProvider>().ForceFlush(2_000);
        await Task.Delay(500);
        Assert.False(grpc.Pending(), "something connected to the default OTLP gRPC port");
        Assert.False(http.Pending(), "something connected to the default OTLP HTTP port");
    }

    static TcpListener ListenOnDefault(int port)
    {
        var listener = new TcpListener(IPAddress.IPv6Any, port);
        listener.Server.DualMode = true;
        listener.Start();
        return listener;
    }

    [Fact]
    public async Task Tracing_and_metrics_can_each_be_switched_off()
    {
        await using (var provider = Observability(new() { ["Observability:Tracing"] = "false" }))
        {
            Assert.Null(provider.GetService<TracerProvider>());
            Assert.NotNull(provider.GetService<MeterProvider>());
        }
        await using (var provider = Observability(new() { ["Observability:Metrics"] = "false" }))
        {
            Assert.NotNull(provider.GetService<TracerProvider>());
            Assert.Null(provider.GetService<MeterProvider>());
        }
    }

    static int FreePort()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        return ((IPEndPoint)socket.LocalEndpoint).Port;
    }
}
