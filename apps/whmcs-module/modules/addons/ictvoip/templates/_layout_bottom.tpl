</div>
</div>
