namespace Worker.Commands;

/// <summary>A PATCH field: absent (leave as is) or present with a value, which may be null (clear it).</summary>
public readonly record struct Optional<T>(bool IsPresent, T Value)
{
    public static readonly Optional<T> Absent = default;

    public static Optional<T> Of(T value) => new(true, value);

    public T Or(T current) => IsPresent ? Value : current;
}
