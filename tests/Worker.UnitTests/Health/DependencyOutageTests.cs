using Microsoft.Extensions.Time.Testing;
using Worker.Health;

namespace Worker.UnitTests.Health;

public sealed class DependencyOutageTests
{
    readonly FakeTimeProvider _clock = new(DateTimeOffset.Parse("2026-12-07T12:00:00Z"));

    [Fact]
    public async Task Commands_waiting_for_a_dependency_go_on_only_once_it_is_back()
    {
        var outage = new DependencyOutage("PostgreSQL", "database", _clock);
        Assert.True(outage.WaitUntilBackAsync(CancellationToken.None).IsCompletedSuccessfully);

        Assert.True(outage.GoneAway("Connection refused"));
        var waiting = outage.WaitUntilBackAsync(CancellationToken.None);
        _clock.Advance(TimeSpan.FromMinutes(10));
        await Task.Delay(50);
        Assert.False(waiting.IsCompleted);

        Assert.Equal(TimeSpan.FromMinutes(10), outage.Back());
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.False(outage.IsAway);
    }

    [Fact]
    public void An_outage_is_told_once_however_many_failures_report_it()
    {
        var outage = new DependencyOutage("RabbitMQ", "broker", _clock);
        Assert.True(outage.GoneAway("Connection refused"));
        Assert.False(outage.GoneAway("Connection reset"));
        Assert.Equal("Connection refused", outage.Reason);
        Assert.NotNull(outage.Back());
        Assert.Null(outage.Back());
    }

    [Fact]
    public void Time_away_adds_up_over_outages_and_counts_the_current_one()
    {
        var outage = new DependencyOutage("PostgreSQL", "database", _clock);
        outage.GoneAway("a");
        _clock.Advance(TimeSpan.FromSeconds(30));
        outage.Back();
        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal(TimeSpan.FromSeconds(30), outage.AwayInAll());
        Assert.Equal(TimeSpan.Zero, outage.AwayFor());

        outage.GoneAway("b");
        _clock.Advance(TimeSpan.FromSeconds(45));
        Assert.Equal(TimeSpan.FromSeconds(45), outage.AwayFor());
        Assert.Equal(TimeSpan.FromSeconds(75), outage.AwayInAll());
        Assert.Equal(_clock.GetUtcNow() - TimeSpan.FromSeconds(45), outage.AwaySince);
    }

    [Fact]
    public async Task A_waiter_that_stops_waiting_is_cancelled_and_the_outage_goes_on()
    {
        var outage = new DependencyOutage("PostgreSQL", "database", _clock);
        outage.GoneAway("a");
        using var stop = new CancellationTokenSource();
        var waiting = outage.WaitUntilBackAsync(stop.Token);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        Assert.True(outage.IsAway);
    }
}
